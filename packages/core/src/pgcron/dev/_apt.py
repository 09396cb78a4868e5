"""apt on the host: only for the bootstrap tool (mmdebstrap) and bookworm's pg_cron 1.4.2."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from pgcron.errors import DevServerError

_APT = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "-q"]


def is_debian() -> bool:
    return Path("/etc/debian_version").is_file() and shutil.which("apt-get") is not None


def apt_install(packages: list[str]) -> None:
    """``apt-get install`` as root, waiting for other apt/dpkg processes instead of failing."""
    if os.geteuid() != 0 or not is_debian():
        raise DevServerError(
            f"cannot install {' '.join(packages)}: needs root on Debian "
            f"(run: sudo apt-get install {' '.join(packages)})"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in ([*_APT, "update"], [*_APT, "install", "-y", "--no-install-recommends", *packages]):
        result = subprocess.run(
            argv, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
        )
        if result.returncode != 0:
            raise DevServerError(f"{' '.join(argv)} failed:\n{result.stderr.strip()[-2000:]}")


def prevent_main_cluster() -> None:
    """Before postgresql-common is first installed: do not create and start a 15/main on port 5432."""
    conf_dir = Path("/etc/postgresql-common/createcluster.d")
    if Path("/etc/postgresql-common/createcluster.conf").exists():
        return  # already installed: the package will not create a main cluster again
    conf_dir.mkdir(parents=True, exist_ok=True)
    (conf_dir / "00-pgcron-no-main.conf").write_text("create_main_cluster = false\n", encoding="utf-8")
