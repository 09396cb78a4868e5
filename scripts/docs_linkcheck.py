"""Check every internal link of a built MkDocs site: each relative href/src names a file that was built,
and each #fragment names an element id on the target page.

``mkdocs build --strict`` already checks Markdown links between pages; this also covers what it does not
see — links inside generated API reference, navigation, images, and raw HTML. External (http, mailto)
links are not fetched: the build must work offline.

    python scripts/docs_linkcheck.py SITE_DIR
"""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "id":
                self.ids.add(value)
            elif (name == "href" and tag in ("a", "link")) or (name == "src" and tag in ("img", "script")):
                self.links.append(value)


def _parse(path: Path, cache: dict[Path, _Page]) -> _Page:
    if path not in cache:
        page = _Page()
        page.feed(path.read_text(encoding="utf-8", errors="replace"))
        cache[path] = page
    return cache[path]


def check(site: Path) -> list[str]:
    site = site.resolve()
    cache: dict[Path, _Page] = {}
    problems: list[str] = []
    pages = sorted(site.rglob("*.html"))
    for page_path in pages:
        for link in _parse(page_path, cache).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:", "data:")):
                continue
            if parts.path.startswith("/"):
                # Root-relative (the 404 page uses them): resolve against the site root.
                target = (site / unquote(parts.path).lstrip("/")).resolve()
                if target.is_dir():
                    target = target / "index.html"
            elif parts.path:
                target = (page_path.parent / unquote(parts.path)).resolve()
                if target.is_dir():
                    target = target / "index.html"
            else:
                target = page_path.resolve()
            where = page_path.relative_to(site)
            if not target.exists():
                problems.append(f"{where}: broken link {link!r}")
                continue
            fragment = unquote(parts.fragment)
            if fragment and target.suffix == ".html" and fragment not in _parse(target, cache).ids:
                problems.append(f"{where}: link {link!r} names a missing anchor")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python scripts/docs_linkcheck.py SITE_DIR", file=sys.stderr)
        return 2
    site = Path(argv[0])
    if not (site / "index.html").exists():
        print(f"{site} is not a built site (no index.html); run mkdocs build first", file=sys.stderr)
        return 2
    problems = check(site)
    for problem in problems:
        print(problem, file=sys.stderr)
    count = len(list(site.rglob("*.html")))
    print(f"link check: {count} pages, {len(problems)} broken internal links")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
