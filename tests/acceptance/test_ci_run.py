""".ci/run is the newcomer: it installs nothing and runs the README's demo command, then its test command,
as written in README.md, failing when either fails. Driven here on a copy of the repository's real README
whose scripts are stand-ins that record their calls."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.acceptance

ROOT = Path(__file__).resolve().parents[2]
CI_RUN = ROOT / ".ci" / "run"
BASH = shutil.which("bash") or "/bin/bash"


def _repo(tmp_path: Path, readme: str | None = None) -> Path:
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    (repo / "scripts").mkdir()
    shutil.copy(CI_RUN, repo / ".ci" / "run")
    (repo / "README.md").write_text(
        readme if readme is not None else (ROOT / "README.md").read_text(encoding="utf-8"), encoding="utf-8"
    )
    for name in ("demo", "test"):
        (repo / "scripts" / name).write_text(
            f'echo "{name} CI=$CI args=$*" >> "$CALLS"\nexit "${{{name.upper()}_RC:-0}}"\n', encoding="utf-8"
        )
    return repo


def _ci(repo: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    calls = repo.parent / "calls.log"
    full_env = {k: v for k, v in os.environ.items() if k not in ("CI", "DEMO_RC", "TEST_RC")}
    full_env.update(CALLS=str(calls), **env)
    result = subprocess.run(
        [BASH, str(repo / ".ci" / "run")],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return result, calls.read_text(encoding="utf-8").splitlines() if calls.exists() else []


def test_ci_installs_nothing_itself() -> None:
    code = "\n".join(
        line.split("#", 1)[0] for line in CI_RUN.read_text(encoding="utf-8").splitlines()
    )  # commands only, not the comments that say what it does not do
    for installer in (r"\bapt(-get)?\b", r"\bpip3?\b", r"\buv\b", r"\bpipx\b", r"\bmmdebstrap\b"):
        assert not re.search(installer, code), f".ci/run runs {installer}: CI must install nothing itself"


def test_runs_the_readmes_demo_then_its_test_command_with_ci_true(tmp_path: Path) -> None:
    result, calls = _ci(_repo(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert calls == ["demo CI=true args=", "test CI=true args="]
    assert "running the README's demo command: bash scripts/demo" in result.stdout
    assert "running the README's test command: bash scripts/test" in result.stdout


def test_a_failing_demo_fails_ci_before_the_tests(tmp_path: Path) -> None:
    result, calls = _ci(_repo(tmp_path), DEMO_RC="3")

    assert result.returncode == 3
    assert calls == ["demo CI=true args="]
    assert "the demo failed" in result.stderr


@pytest.mark.parametrize("code", ["1", "5"])
def test_a_failing_test_command_fails_ci(tmp_path: Path, code: str) -> None:
    result, calls = _ci(_repo(tmp_path), TEST_RC=code)

    assert result.returncode == int(code)
    assert calls == ["demo CI=true args=", "test CI=true args="]
    if code == "5":
        assert "no tests were collected" in result.stderr


def test_a_readme_without_the_demo_marker_fails(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8").replace("<!-- demo-command -->", "")

    result, calls = _ci(_repo(tmp_path, readme))

    assert result.returncode == 2
    assert calls == []
    assert "no command after <!-- demo-command -->" in result.stderr


def test_the_demo_command_is_the_readmes_first_command() -> None:
    """The marker sits on the quickstart's first command block, which is what a newcomer runs first."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n\s*(.+)\n", readme)
    assert first_block, "README.md has no bash block"
    before = readme[: first_block.start()]
    assert before.rstrip().endswith("<!-- demo-command -->"), "the first bash block must carry the marker"
    assert first_block[1].strip() == "bash scripts/demo"
