"""The documentation site builds strictly (warnings are errors) and has no broken internal links.

This is how CI builds the docs: ``scripts/docs`` runs ``mkdocs build --strict`` and then
``scripts/docs_linkcheck.py`` over the built HTML. No database is needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import docs_linkcheck  # noqa: E402 - lives in scripts/, not an installed package


def test_site_builds_strictly_with_no_broken_links(tmp_path: Path) -> None:
    site = tmp_path / "site"
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "docs"), "-d", str(site)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken internal links" in proc.stdout
    # The pages this site is for were rendered, with their generated parts.
    assert "case-main.png" in (site / "benchmarks" / "index.html").read_text()
    assert "PgCronError" in (site / "reference" / "errors" / "index.html").read_text()
    assert "pgcron dev" in (site / "reference" / "cli" / "index.html").read_text()
    assert (site / "when-to-stay-in-the-app-tier" / "index.html").exists()


def test_link_checker_reports_broken_files_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "index.html").write_text(
        '<h1 id="top">x</h1><a href="a/">ok</a><a href="#top">ok</a><a href="b/">gone</a>'
        '<img src="img/missing.png"><a href="a/#nowhere">bad anchor</a><a href="https://x.invalid/">ext</a>'
    )
    (tmp_path / "a" / "index.html").write_text('<p id="here">a</p><a href="../index.html#top">back</a>')
    problems = docs_linkcheck.check(tmp_path)
    assert sorted(problems) == [
        "index.html: broken link 'b/'",
        "index.html: broken link 'img/missing.png'",
        "index.html: link 'a/#nowhere' names a missing anchor",
    ]
