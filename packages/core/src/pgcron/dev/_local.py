"""PostgreSQL installations on the host that have pg_cron (pg_config, /usr/lib/postgresql/*)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

from pgcron.dev._cluster import Toolchain
from pgcron.dev._pgcron_version import control_version, version_tuple


def _candidates() -> list[tuple[Path, Path, Path]]:
    """(bindir, pkglibdir, sharedir) of every installation we can find, pg_config's first."""
    found: list[tuple[Path, Path, Path]] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run(
            [pg_config, "--bindir", "--pkglibdir", "--sharedir"], capture_output=True, text=True, check=False
        )
        parts = result.stdout.split()
        if result.returncode == 0 and len(parts) == 3:
            found.append((Path(parts[0]), Path(parts[1]), Path(parts[2])))
    # Debian/Ubuntu keep every major version side by side.
    for lib in sorted(glob.glob("/usr/lib/postgresql/*/lib"), reverse=True):
        major = Path(lib).parent.name
        found.append((Path(lib).parent / "bin", Path(lib), Path(f"/usr/share/postgresql/{major}")))
    return found


def find(min_version: tuple[int, int], max_version: tuple[int, int] | None = None) -> Toolchain | None:
    """The newest local installation whose pg_cron version lies in [min_version, max_version]."""
    best: Toolchain | None = None
    seen: set[Path] = set()
    for bindir, pkglibdir, sharedir in _candidates():
        if bindir in seen:
            continue
        seen.add(bindir)
        if not all((bindir / tool).exists() for tool in ("postgres", "initdb", "pg_ctl")):
            continue
        if not (pkglibdir / "pg_cron.so").exists():
            continue
        version = control_version(sharedir / "extension" / "pg_cron.control")
        if version is None:
            continue
        vt = version_tuple(version)
        if vt < min_version or (max_version is not None and vt > max_version):
            continue
        major = _major(bindir)
        candidate = Toolchain(
            route="local",
            bin_dir=str(bindir),
            pg_version=major,
            pg_cron_version=version,
            run_as="postgres" if os.geteuid() == 0 else None,
        )
        if best is None or (vt, int(major or 0)) > (
            version_tuple(best.pg_cron_version),
            int(best.pg_version or 0),
        ):
            best = candidate
    return best


def _major(bindir: Path) -> str:
    result = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
    )
    # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    for word in result.stdout.split():
        if word[:1].isdigit():
            return word.split(".")[0]
    return "0"
