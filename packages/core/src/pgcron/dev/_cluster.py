"""One PostgreSQL cluster with pg_cron: initdb, configuration, start, stop — wherever its binaries live.

A :class:`Toolchain` says how to run the PostgreSQL binaries: directly on the host (as the current
user, or as ``postgres`` when we are root, because the server refuses to run as root) or inside a
provisioned root through ``chroot`` as that root's own ``postgres`` user. Paths given to the binaries
are *inner* paths; :meth:`Toolchain.host_path` maps them to the host.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pgcron.errors import DevServerError

logger = logging.getLogger(__name__)

# Written once at initdb; the server reads it at start. Values that the caller chooses (port,
# execution mode, timezone) are rewritten in the include file on every start.
_BASE_CONF = """\
# ---- pgcron dev server (written by `pgcron dev`) ----
listen_addresses = '127.0.0.1'
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
max_worker_processes = 32
# A throwaway development server: trade durability for speed.
fsync = off
synchronous_commit = off
full_page_writes = off
include_if_exists = 'pgcron-dev.conf'
"""


@dataclass(frozen=True)
class Toolchain:
    """How to run one installation of PostgreSQL + pg_cron."""

    route: str  # "local" or "trixie"
    bin_dir: str  # inner path of initdb / pg_ctl / postgres
    pg_version: str  # major version, e.g. "17"
    pg_cron_version: str  # extension default_version, e.g. "1.6" or "1.4-1"
    root: Path | None = None  # chroot root, None for the host
    run_as: str | None = None  # host user to switch to (when we are root)

    def host_path(self, inner: str) -> Path:
        if self.root is None:
            return Path(inner)
        return self.root / inner.lstrip("/")

    def command(self, program: str, *args: str) -> list[str]:
        """The argv that runs ``program`` from ``bin_dir`` as the server's user, with a clean environment."""
        env = ["/usr/bin/env", "-i", "LANG=C.UTF-8", f"PATH={self.bin_dir}:/usr/bin:/bin"]
        argv = [f"{self.bin_dir}/{program}", *args]
        if self.root is not None:
            # coreutils chroot resolves the user name inside the new root (its own postgres uid).
            return [
                "chroot",
                "--userspec=postgres:postgres",
                str(self.root),
                *env,
                "HOME=/var/lib/postgresql",
                *argv,
            ]
        if self.run_as is not None:
            return ["runuser", "-u", self.run_as, "--", *env, f"HOME={_home_of(self.run_as)}", *argv]
        return [*env, f"HOME={Path.home()}", *argv]

    def run(self, program: str, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        argv = self.command(program, *args)
        logger.debug("running %s", argv)
        # stdin/stdout/stderr never reach the detached postmaster: pg_ctl redirects them to the log.
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
        )

    def make_owned_dir(self, inner: str) -> None:
        """Create ``inner`` (and parents) owned by the server's user, mode 0700."""
        if self.root is not None:
            subprocess.run(
                [
                    "chroot",
                    str(self.root),
                    "install",
                    "-d",
                    "-o",
                    "postgres",
                    "-g",
                    "postgres",
                    "-m",
                    "0700",
                    inner,
                ],
                check=True,
                capture_output=True,
            )
            return
        path = Path(inner)
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.run_as is not None:
            shutil.chown(path, self.run_as, self.run_as)


def _home_of(user: str) -> str:
    import pwd

    try:
        return pwd.getpwnam(user).pw_dir
    except KeyError:
        raise DevServerError(
            f"user {user!r} does not exist: PostgreSQL will not run as root, and pgcron runs the host's "
            f"binaries as {user!r}. Install the postgresql package (it creates the user) or run as a "
            "normal user",
        ) from None


@dataclass(frozen=True)
class ClusterSettings:
    port: int
    background_workers: bool
    timezone: str | None
    # Fixed settings of a managed flavour (trusted constants from pgcron.dev._managed), written last.
    extra: Mapping[str, str] = field(default_factory=dict)


class Cluster:
    """A data directory (inner path ``data_dir``) managed with one toolchain."""

    def __init__(self, toolchain: Toolchain, data_dir: str, log_file: str) -> None:
        self.toolchain = toolchain
        self.data_dir = data_dir
        self.log_file = log_file

    @property
    def host_data_dir(self) -> Path:
        return self.toolchain.host_path(self.data_dir)

    def initialized(self) -> bool:
        return (self.host_data_dir / "PG_VERSION").is_file()

    def init(self, *, superuser: str = "postgres", hba: str | None = None) -> None:
        """initdb with trust auth on 127.0.0.1 (libpq mode connects over localhost) and pg_cron preloaded.

        ``superuser`` is the bootstrap superuser's name; ``hba`` replaces ``pg_hba.conf`` (managed flavours).
        """
        if self.initialized():
            return
        parent = str(Path(self.data_dir).parent)
        self.toolchain.make_owned_dir(parent)
        result = self.toolchain.run(
            "initdb",
            "-D",
            self.data_dir,
            "-U",
            superuser,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        if result.returncode != 0:
            raise DevServerError(f"initdb failed for {self.host_data_dir}:\n{result.stderr.strip()}")
        conf = self.host_data_dir / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as fh:
            fh.write(_BASE_CONF)
            if int(self.toolchain.pg_version) >= 11:
                fh.write("jit = off  # never load libLLVM for a dev server\n")
            fh.write(f"unix_socket_directories = '{parent}'\n")
        if hba is not None:
            (self.host_data_dir / "pg_hba.conf").write_text(hba, encoding="utf-8")

    def configure(self, settings: ClusterSettings) -> None:
        """Rewrite the per-start settings: port, execution mode, cron.timezone."""
        lines = [
            "# rewritten by `pgcron dev up` on every start",
            f"port = {settings.port:d}",
            f"cron.use_background_workers = {'on' if settings.background_workers else 'off'}",
        ]
        if settings.timezone is not None:
            if not _plain_setting(settings.timezone):
                raise DevServerError(
                    f"invalid cron.timezone {settings.timezone!r}: use a time zone name "
                    "such as UTC or Europe/Berlin"
                )
            lines.append(f"cron.timezone = '{settings.timezone}'")
        if settings.extra:
            lines.append("# fixed by the managed flavour, as the provider fixes them")
            lines += [f"{key} = {value}" for key, value in settings.extra.items()]
        path = self.host_data_dir / "pgcron-dev.conf"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        if self.toolchain.root is None and self.toolchain.run_as is not None:
            shutil.chown(path, self.toolchain.run_as, self.toolchain.run_as)

    def postmaster_pid(self) -> int | None:
        """PID of the running postmaster (host PID: no PID namespace is involved), else None."""
        try:
            first = (self.host_data_dir / "postmaster.pid").read_text().splitlines()[0]
            pid = int(first)
        except (OSError, ValueError, IndexError):
            return None
        return pid if process_alive(pid) else None

    def start(self) -> None:
        if self.toolchain.root is not None:
            # /run is empty in a fresh root and not persistent everywhere; pg_ctl wants the lock dir.
            subprocess.run(
                [
                    "chroot",
                    str(self.toolchain.root),
                    "install",
                    "-d",
                    "-o",
                    "postgres",
                    "-g",
                    "postgres",
                    "-m",
                    "2775",
                    "/run/postgresql",
                ],
                check=True,
                capture_output=True,
            )
        # pg_ctl setsid()s the postmaster, so the server outlives this process.
        result = self.toolchain.run(
            "pg_ctl", "-D", self.data_dir, "-l", self.log_file, "-w", "-t", "60", "start"
        )
        if result.returncode != 0:
            raise DevServerError(
                f"PostgreSQL did not start (data dir {self.host_data_dir}):\n{result.stdout.strip()}\n"
                f"{result.stderr.strip()}\n--- last lines of {self.toolchain.host_path(self.log_file)} ---\n"
                f"{tail(self.toolchain.host_path(self.log_file))}"
            )

    def stop(self, timeout: float = 60.0) -> None:
        pid = self.postmaster_pid()
        if pid is None:
            return
        result = self.toolchain.run("pg_ctl", "-D", self.data_dir, "-m", "fast", "-w", "-t", "60", "stop")
        if result.returncode != 0:
            logger.warning(
                "pg_ctl stop failed (%s); sending SIGINT to postmaster %d", result.stderr.strip(), pid
            )
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 2)
        deadline = time.monotonic() + timeout
        while process_alive(pid):
            if time.monotonic() > deadline:
                raise DevServerError(f"postmaster {pid} is still running {timeout:.0f} s after stop")
            time.sleep(0.05)


def _plain_setting(value: str) -> bool:
    return bool(value) and all(ch.isalnum() or ch in "/_+-:." for ch in value)


def process_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (PID 1 here may reap exited servers late)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
