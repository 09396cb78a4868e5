"""MkDocs hooks for the pgcron site: tolerate capability pages that their owners have not written yet.

It also expands a nav entry that names a folder (``adr/``) into every page in it, so a new ADR is in the nav
without editing ``mkdocs.yml``.

The site's nav and concept pages link to pages that other parts of the project own (``docs/client.md``,
``docs/airflow.md``, …). While such a page is missing, its nav entry is dropped and links to it are turned
into plain text, each with an INFO line — so ``mkdocs build --strict`` stays green during development and
the links come alive the moment the page exists. Only the pages in ``OWNER_PAGES`` get this leniency: any
other broken link still fails the strict build.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.pgcron")

OWNER_PAGES = frozenset(
    {
        "client.md",
        "api.md",
        "schedules.md",
        "pushdown.md",
        "jobs-file.md",
        "history.md",
        "audit.md",
        "doctor.md",
        "airflow.md",
        "dagster.md",
        "dev-server.md",
    }
)
_LINK = re.compile(r"\[([^\]]+)\]\(((?:\.\./)*)([a-z0-9-]+\.md)(#[^)]*)?\)")
_missing: set[str] = set()


def on_config(config: Any) -> Any:
    docs_dir = Path(config["docs_dir"])
    _missing.clear()
    _missing.update(page for page in OWNER_PAGES if not (docs_dir / page).exists())
    for page in sorted(_missing):
        log.info("owner page %s is not written yet: dropped from nav, links shown as text", page)
    config["nav"] = _prune(_expand(config.get("nav") or [], docs_dir))
    return config


def _expand(items: list[Any], docs_dir: Path) -> list[Any]:
    """A nav value ending in ``/`` (``adr/``) becomes every Markdown page in that folder, sorted by name."""
    out: list[Any] = []
    for item in items:
        if isinstance(item, dict):
            ((title, value),) = item.items()
            if isinstance(value, list):
                out.append({title: _expand(value, docs_dir)})
            elif isinstance(value, str) and value.endswith("/"):
                pages = sorted((docs_dir / value).glob("*.md"))
                out.append({title: [f"{value}{page.name}" for page in pages]})
            else:
                out.append(item)
        else:
            out.append(item)
    return out


def _prune(items: list[Any]) -> list[Any]:
    kept: list[Any] = []
    for item in items:
        if isinstance(item, dict):
            ((title, value),) = item.items()
            if isinstance(value, list):
                value = _prune(value)
                if value:
                    kept.append({title: value})
            elif value not in _missing:
                kept.append(item)
        elif item not in _missing:
            kept.append(item)
    return kept


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    def unlink(match: re.Match[str]) -> str:
        text, up, target = match.group(1), match.group(2), match.group(3)
        # Only links that resolve to the docs root (top-level pages) are owner pages.
        depth = page.file.src_uri.count("/")
        if target in _missing and len(up) // 3 == depth:
            return text
        return match.group(0)

    return _LINK.sub(unlink, markdown)
