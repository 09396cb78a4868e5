"""Provision a Debian-trixie root with PostgreSQL 17 + pg_cron 1.6 (Debian 12 hosts, as root).

Debian 12 ships only pg_cron 1.4.2 (no ``N seconds`` schedules). Debian trixie's binaries need a newer
glibc than the host has, so they run in a minimal root built with ``mmdebstrap`` and entered with
``chroot``; clients on the host connect over 127.0.0.1. Building takes about 30 s and needs
deb.debian.org. The root is built into a temporary directory and renamed into place, so an
interrupted build never leaves a half-made root behind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console

from pgcron.dev._apt import apt_install, is_debian
from pgcron.dev._cluster import Toolchain
from pgcron.dev._locks import file_lock
from pgcron.dev._paths import roots_dir
from pgcron.dev._pgcron_version import control_version
from pgcron.errors import DevServerError

logger = logging.getLogger(__name__)

PG_MAJOR = "17"
SUITE = "trixie"
MIRROR = os.environ.get("PGCRON_DEBIAN_MIRROR", "http://deb.debian.org/debian")
ROOT_NAME = f"{SUITE}-pg{PG_MAJOR}"
_MARKER = ".pgcron-root.json"

# Runs inside mmdebstrap before the packages are configured ($1 = the new root):
#  - policy-rc.d exit 101: postinst scripts must not start services inside the root;
#  - create_main_cluster = false: no 17/main cluster on port 5432 inside the root;
#  - skip docs, man pages and translations.
_ESSENTIAL_HOOK = """\
set -e
printf '#!/bin/sh\\nexit 101\\n' > "$1/usr/sbin/policy-rc.d"
chmod +x "$1/usr/sbin/policy-rc.d"
mkdir -p "$1/etc/postgresql-common/createcluster.d" "$1/etc/dpkg/dpkg.cfg.d"
echo 'create_main_cluster = false' > "$1/etc/postgresql-common/createcluster.d/00-pgcron-no-main.conf"
printf 'path-exclude=/usr/share/doc/*\\npath-exclude=/usr/share/man/*\\npath-exclude=/usr/share/locale/*\\n' \
  > "$1/etc/dpkg/dpkg.cfg.d/01-pgcron-slim"
"""


def root_path() -> Path:
    return roots_dir() / ROOT_NAME


def unavailable_reason() -> str | None:
    """Why this route cannot be used here, or None when it can (possibly after a build)."""
    if os.geteuid() != 0:
        return "needs root (it builds a root file system and enters it with chroot)"
    if not is_debian():
        return "needs a Debian host (mmdebstrap from apt)"
    return None


def toolchain(root: Path) -> Toolchain:
    bin_dir = f"/usr/lib/postgresql/{PG_MAJOR}/bin"
    control = root / f"usr/share/postgresql/{PG_MAJOR}/extension/pg_cron.control"
    return Toolchain(
        route="trixie",
        bin_dir=bin_dir,
        pg_version=PG_MAJOR,
        pg_cron_version=control_version(control) or "?",
        root=root,
    )


def built(root: Path) -> bool:
    return (root / _MARKER).is_file()


def ensure_root(console: Console | None = None) -> Toolchain:
    """The provisioned root, building it first if needed (idempotent, safe across processes)."""
    root = root_path()
    if built(root):
        return toolchain(root)
    reason = unavailable_reason()
    if reason:
        raise DevServerError(f"cannot provision the Debian {SUITE} root: {reason}")
    with file_lock(f"root-{ROOT_NAME}"):
        if built(root):  # another process finished it while we waited
            return toolchain(root)
        _build(root, console or Console(stderr=True))
    return toolchain(root)


def _build(root: Path, console: Console) -> None:
    if shutil.which("mmdebstrap") is None:
        console.print("[bold]pgcron dev[/]: installing mmdebstrap (apt)…")
        apt_install(["mmdebstrap"])
    root.parent.mkdir(parents=True, exist_ok=True)
    if root.exists():  # a root without marker: an older or broken build
        shutil.rmtree(root)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=".build-", dir=root.parent) as tmp:
        target = Path(tmp) / "root"
        hook = Path(tmp) / "essential-hook.sh"
        hook.write_text(_ESSENTIAL_HOOK, encoding="utf-8")
        argv = [
            "mmdebstrap",
            "--mode=root",
            "--variant=minbase",
            f"--include=postgresql-{PG_MAJOR},postgresql-{PG_MAJOR}-cron",
            '--aptopt=APT::Install-Recommends "false"',
            f'--essential-hook=sh {hook} "$1"',
            SUITE,
            str(target),
            MIRROR,
        ]
        _run_with_progress(
            argv,
            console,
            f"Provisioning Debian {SUITE} + PostgreSQL {PG_MAJOR} + pg_cron "
            f"(first time only, ~30-60 s) into {root}",
        )
        subprocess.run(
            [
                "chroot",
                str(target),
                "install",
                "-d",
                "-o",
                "postgres",
                "-g",
                "postgres",
                "-m",
                "2775",
                "/run/postgresql",
                "/var/lib/pgcron",
            ],
            check=True,
            capture_output=True,
        )
        tc = toolchain(target)
        if not tc.host_path(f"{tc.bin_dir}/postgres").exists() or tc.pg_cron_version == "?":
            raise DevServerError(f"the {SUITE} root was built but has no PostgreSQL {PG_MAJOR} + pg_cron")
        (target / _MARKER).write_text(
            json.dumps(
                {
                    "suite": SUITE,
                    "pg_major": PG_MAJOR,
                    "pg_cron_version": tc.pg_cron_version,
                    "packages": _package_versions(target),
                    "built_at": time.time(),
                    "build_seconds": round(time.monotonic() - started, 1),
                },
                indent=2,
            ),
            encoding="utf-8",
        )
        target.rename(root)
    console.print(f"[green]✓[/] {SUITE} root ready in {time.monotonic() - started:.1f} s")


def _run_with_progress(argv: list[str], console: Console, title: str) -> None:
    """Run a long command, showing its latest output line next to a spinner (plain lines when not a tty)."""
    console.print(f"[bold]pgcron dev[/]: {title}", soft_wrap=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8")
    log: list[str] = []
    started = time.monotonic()
    with (
        subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
        ) as proc,
        console.status("starting…") as status,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            log.append(line)
            if line.startswith(("I: ", "W: ", "E: ")):
                status.update(f"[{time.monotonic() - started:4.0f} s] {line[3:][:100]}")
                if not console.is_terminal:
                    console.print(
                        f"  [{time.monotonic() - started:4.0f} s] {line[3:]}", highlight=False, soft_wrap=True
                    )
        code = proc.wait()
    if code != 0:
        raise DevServerError(
            f"{argv[0]} failed (exit {code}). Is {MIRROR} reachable? Last output:\n" + "\n".join(log[-25:])
        )


def _package_versions(root: Path) -> dict[str, str]:
    result = subprocess.run(
        [
            "chroot",
            str(root),
            "dpkg-query",
            "-W",
            "-f",
            "${Package} ${Version}\\n",
            f"postgresql-{PG_MAJOR}",
            f"postgresql-{PG_MAJOR}-cron",
            "libc6",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)


def root_info(root: Path | None = None) -> dict[str, object]:
    try:
        return dict(json.loads(((root or root_path()) / _MARKER).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}
