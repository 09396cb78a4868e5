"""The dev-server chain and the instance lifecycle: up, down, status.

Routes, tried in order until one gives a server:

1. ``dsn``    – a server named by an environment variable (``PGCRON_DSN``; ``PGCRON_14_DSN`` for 1.4);
2. ``docker`` – a container through testcontainers, when a Docker engine answers;
3. ``local``  – PostgreSQL binaries on this machine that have a fitting pg_cron;
4. ``trixie`` – (Debian, root) a provisioned Debian-trixie root with PostgreSQL 17 + pg_cron 1.6;

and for the compat flavour ``1.4``: Debian bookworm's ``postgresql-15-cron`` on the host, installed
with apt when we are root. Each instance has a name; its state (route, port, versions, whether
pgcron started it) is a JSON file, so ``down`` stops only what ``up`` started.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg
from rich.console import Console

from pgcron.dev import _apt, _docker, _local, _managed, _trixie
from pgcron.dev._cluster import Cluster, ClusterSettings, Toolchain
from pgcron.dev._locks import file_lock
from pgcron.dev._paths import check_name, instance_dir, instances_dir
from pgcron.errors import DevServerError

logger = logging.getLogger(__name__)

Flavour = Literal["1.6", "1.4"]
FLAVOURS: tuple[Flavour, ...] = ("1.6", "1.4")
_ENV_DSN: dict[str, str] = {"1.6": "PGCRON_DSN", "1.4": "PGCRON_14_DSN"}
_AVOID_PORTS = range(5490, 5500)  # the team's long-running reference servers live here


@dataclass
class ServerState:
    """What ``pgcron dev`` knows about one instance; persisted as ``instances/<name>/state.json``."""

    name: str
    route: str
    flavour: str
    dsn: str
    port: int
    background_workers: bool
    timezone: str | None = None
    started_by_pgcron: bool = False
    pid: int | None = None
    server_version: str = ""
    pg_cron_version: str = ""
    data_dir: str | None = None  # host path
    log_file: str | None = None  # host path
    inner_data_dir: str | None = None
    inner_log_file: str | None = None
    toolchain: dict[str, Any] | None = None
    container: str | None = None
    running: bool = field(default=False)
    #: Managed flavour (rds, cloudsql, azure, supabase, neon): ``dsn`` is then the customer admin's DSN and
    #: ``superuser_dsn`` the provider superuser's (through the Unix socket; for test harnesses only).
    managed: str | None = None
    superuser_dsn: str | None = None
    admin_role: str | None = None

    @property
    def mode(self) -> str:
        return "background workers" if self.background_workers else "libpq"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["mode"] = self.mode
        return data


# ---------------------------------------------------------------- state files


def _state_file(name: str) -> Path:
    return instance_dir(name) / "state.json"


def load_state(name: str) -> ServerState | None:
    try:
        data = json.loads(_state_file(name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise DevServerError(f"corrupt state file {_state_file(name)}: {exc}; delete it") from exc
    data.pop("mode", None)
    return ServerState(**data)


def _save_state(state: ServerState) -> None:
    path = _state_file(state.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def list_states() -> list[ServerState]:
    states = []
    if instances_dir().is_dir():
        for child in sorted(instances_dir().iterdir()):
            state = load_state(child.name) if (child / "state.json").is_file() else None
            if state is not None:
                state.running = _is_running(state)
                states.append(state)
    return states


# ---------------------------------------------------------------- helpers


def _toolchain_from(state: ServerState) -> Toolchain:
    assert state.toolchain is not None
    data = dict(state.toolchain)
    root = data.pop("root")
    return Toolchain(root=Path(root) if root else None, **data)


def _cluster_of(state: ServerState) -> Cluster:
    assert state.inner_data_dir and state.inner_log_file
    return Cluster(_toolchain_from(state), state.inner_data_dir, state.inner_log_file)


def _is_running(state: ServerState) -> bool:
    if state.route in ("local", "trixie"):
        return _cluster_of(state).postmaster_pid() is not None
    return _probe(state.dsn) is None


def _probe(dsn: str) -> str | None:
    try:
        with psycopg.connect(dsn, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip()
    return None


def make_dsn(port: int, user: str = "postgres", database: str = "postgres") -> str:
    return f"postgresql://{user}@127.0.0.1:{port}/{database}"


def _socket_dsn(socket_dir: Path, port: int, user: str, database: str) -> str:
    return psycopg.conninfo.make_conninfo(host=str(socket_dir), port=port, user=user, dbname=database)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(taken: set[int]) -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in taken and port not in _AVOID_PORTS:
            return port
    raise DevServerError("found no free TCP port on 127.0.0.1")


def _ports_of_other_instances(name: str) -> set[int]:
    return {s.port for s in list_states() if s.name != name}


def _describe_server(state: ServerState) -> None:
    """Fill in versions and mode as the server reports them; create the extension if missing."""
    # cron.* settings are superuser-only: a managed flavour reads them as the provider's superuser.
    with psycopg.connect(state.superuser_dsn or state.dsn, connect_timeout=10, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        row = conn.execute(
            "SELECT current_setting('server_version'), "
            "(SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'), "
            "current_setting('cron.use_background_workers', true), "
            "current_setting('cron.timezone', true)"
        ).fetchone()
    assert row is not None
    state.server_version, state.pg_cron_version = str(row[0]), str(row[1])
    state.background_workers = row[2] == "on"
    state.timezone = row[3]


# ---------------------------------------------------------------- the chain


def _routes_error(flavour: str, reasons: list[tuple[str, str]]) -> DevServerError:
    wanted = ">= 1.5" if flavour == "1.6" else "1.4"
    lines = [f"no PostgreSQL with pg_cron {wanted} could be had. Routes tried:"]
    lines += [f"  - {route}: {why}" for route, why in reasons]
    lines.append(
        "Enable one of them: set the DSN variable to a server you run, start a Docker engine, "
        "install PostgreSQL with pg_cron"
        + (" >= 1.5" if flavour == "1.6" else " 1.4 (Debian 12: apt install postgresql-15-cron)")
        + ", or run as root on Debian so pgcron can provision one."
    )
    return DevServerError("\n".join(lines), reasons=reasons)


def _pick_toolchain(flavour: str, console: Console, reasons: list[tuple[str, str]]) -> Toolchain | None:
    if flavour == "1.4":
        tc = _local.find((1, 4), (1, 4))
        if tc is not None:
            return tc
        if os.geteuid() == 0 and _apt.is_debian():
            console.print("[bold]pgcron dev[/]: installing postgresql-15-cron (pg_cron 1.4.2) with apt…")
            _apt.prevent_main_cluster()
            _apt.apt_install(["postgresql-15-cron"])
            tc = _local.find((1, 4), (1, 4))
            if tc is not None:
                return tc
        why = "no PostgreSQL with pg_cron 1.4 found; installing it with apt needs root on Debian"
        reasons.append(("local", why))
        return None
    tc = _local.find((1, 5))
    if tc is not None:
        return tc
    reasons.append(("local", "no PostgreSQL with pg_cron >= 1.5 found (pg_config, /usr/lib/postgresql/*)"))
    trixie_why = _trixie.unavailable_reason()
    if trixie_why:
        reasons.append(("trixie", trixie_why))
        return None
    return _trixie.ensure_root(console)


def up(
    name: str = "default",
    *,
    flavour: Flavour = "1.6",
    port: int | None = None,
    data_dir: Path | str | None = None,
    background_workers: bool = True,
    timezone: str | None = None,
    use_env: bool = True,
    console: Console | None = None,
    managed: str | None = None,
) -> ServerState:
    """Bring instance ``name`` up (idempotent) and return its state, with ``running`` True.

    ``managed`` (rds, cloudsql, azure, supabase, neon) emulates that provider's privilege model and fixed
    settings (pgcron.dev._managed); its execution mode and time zone are the provider's, and it always runs
    a local cluster (never ``PGCRON_DSN`` or Docker).
    """
    check_name(name)
    if flavour not in FLAVOURS:
        raise DevServerError(f"unknown pg_cron flavour {flavour!r}: use one of {', '.join(FLAVOURS)}")
    prov = _managed.provider(managed) if managed is not None else None
    if prov is not None:
        if flavour != "1.6":
            raise DevServerError("managed flavours run pg_cron >= 1.5 (--pg-cron 1.6)")
        if timezone is not None:
            raise DevServerError(f"--managed {prov.name} fixes cron.timezone as the provider does")
        background_workers = prov.background_workers
        use_env = False
    console = console or Console(stderr=True)
    env_var = _ENV_DSN[flavour]
    if use_env and os.environ.get(env_var):
        return _up_from_env(name, flavour, os.environ[env_var], env_var)
    with file_lock(f"instance-{name}"):
        state = load_state(name)
        if state is not None and _is_running(state):
            _check_compatible(state, flavour, port, background_workers, timezone, managed)
            state.running = True
            return state
        reasons: list[tuple[str, str]] = []
        if state is not None and state.route in ("local", "trixie") and state.toolchain:
            if state.flavour != flavour or state.managed != managed:
                what = f"--managed {state.managed}" if state.managed else f"pg_cron {state.flavour}"
                raise DevServerError(
                    f"dev server {name!r} is a {what} server; use another "
                    f"--name or remove it with `pgcron dev down --purge --name {name}`"
                )
            tc = _toolchain_from(state)
        else:
            if use_env:
                reasons.append(("dsn", f"{env_var} is not set"))
            docker_why = _docker.unavailable_reason()
            if docker_why is None and prov is None:
                return _up_docker(name, flavour, port, background_workers, timezone)
            reasons.append(("docker", docker_why or "managed flavours need a local cluster (not Docker)"))
            picked = _pick_toolchain(flavour, console, reasons)
            if picked is None:
                raise _routes_error(flavour, reasons)
            tc = picked
        return _up_cluster(name, flavour, tc, state, port, data_dir, background_workers, timezone, prov)


def _check_compatible(
    state: ServerState,
    flavour: str,
    port: int | None,
    background_workers: bool,
    timezone: str | None,
    managed: str | None = None,
) -> None:
    wrong = []
    if state.managed != managed:
        wrong.append(f"managed flavour {state.managed or 'none'} (asked for {managed or 'none'})")
    if state.flavour != flavour:
        wrong.append(f"pg_cron {state.flavour} (asked for {flavour})")
    if port is not None and port != state.port:
        wrong.append(f"port {state.port} (asked for {port})")
    if state.background_workers != background_workers:
        wrong.append(f"mode {state.mode}")
    if timezone is not None and timezone != state.timezone:
        wrong.append(f"cron.timezone {state.timezone} (asked for {timezone})")
    if wrong:
        raise DevServerError(
            f"dev server {state.name!r} already runs with {', '.join(wrong)}. Stop it first "
            f"(`pgcron dev down --name {state.name}`) or use another --name."
        )


def _up_from_env(name: str, flavour: str, dsn: str, env_var: str) -> ServerState:
    problem = _probe(dsn)
    if problem:
        raise DevServerError(
            f"{env_var} is set but the server does not answer: {problem}. Fix or unset {env_var}."
        )
    port = psycopg.conninfo.conninfo_to_dict(dsn).get("port") or 5432
    state = ServerState(
        name=name,
        route="dsn",
        flavour=flavour,
        dsn=dsn,
        port=int(port),
        background_workers=True,
        started_by_pgcron=False,
        running=True,
    )
    _describe_server(state)
    return state


def _up_docker(
    name: str, flavour: str, port: int | None, background_workers: bool, timezone: str | None
) -> ServerState:
    with file_lock("ports"):
        chosen = port or _free_port(_ports_of_other_instances(name))
        fields = _docker.start(name, chosen, background_workers, timezone)
    state = ServerState(
        name=name,
        route="docker",
        flavour=flavour,
        dsn=make_dsn(chosen),
        port=chosen,
        background_workers=background_workers,
        timezone=timezone,
        started_by_pgcron=True,
        container=fields["container"],
    )
    deadline = time.monotonic() + 60
    while (problem := _probe(state.dsn)) is not None:
        if time.monotonic() > deadline:
            raise DevServerError(f"the pg_cron container did not accept connections: {problem}")
        time.sleep(0.3)
    _describe_server(state)
    state.running = True
    _save_state(state)
    return state


def _layout(name: str, tc: Toolchain, data_dir: Path | str | None) -> tuple[str, str]:
    """Inner paths of the data directory and the server log."""
    if data_dir is not None:
        host = Path(data_dir).expanduser().resolve()
        if tc.root is not None:
            try:
                inner = "/" + str(host.relative_to(tc.root))
            except ValueError:
                raise DevServerError(
                    f"--data-dir {host} is outside the provisioned root {tc.root}: the server runs "
                    f"chrooted there, so its data directory must be inside it (e.g. {tc.root}/var/lib/pgcron/"
                    f"{name}/data)"
                ) from None
        else:
            inner = str(host)
    elif tc.root is not None:
        inner = f"/var/lib/pgcron/{name}/data"
    elif tc.run_as is not None:
        # As root the server runs as `postgres`, which cannot enter root's home (~/.cache is inside it).
        inner = f"/var/lib/pgcron/{name}/data"
    else:
        inner = str(instance_dir(name) / "data")
    return inner, str(Path(inner).parent / "server.log")


def _up_cluster(
    name: str,
    flavour: str,
    tc: Toolchain,
    previous: ServerState | None,
    port: int | None,
    data_dir: Path | str | None,
    background_workers: bool,
    timezone: str | None,
    prov: _managed.Provider | None = None,
) -> ServerState:
    if previous is not None and previous.inner_data_dir and data_dir is None:
        inner_data, inner_log = previous.inner_data_dir, previous.inner_log_file or ""
    else:
        inner_data, inner_log = _layout(name, tc, data_dir)
    cluster = Cluster(tc, inner_data, inner_log)
    if prov is not None:
        cluster.init(superuser=prov.superuser, hba=_managed.hba_conf(prov))
    else:
        cluster.init()
    if timezone is None and previous is not None and prov is None:
        timezone = previous.timezone if previous.flavour == "1.6" else None
    with file_lock("ports"):
        taken = _ports_of_other_instances(name)
        if port is not None:
            chosen = port
        elif previous is not None and previous.port not in taken and _port_free(previous.port):
            chosen = previous.port  # keep a stopped instance's DSN stable
        else:
            chosen = _free_port(taken)
        if not _port_free(chosen):
            raise DevServerError(f"port {chosen} on 127.0.0.1 is in use; pick another with --port")
        extra = dict(prov.settings) if prov is not None else {}
        cluster.configure(ClusterSettings(chosen, background_workers, timezone, extra))
        cluster.start()
    tc_fields = asdict(tc)
    tc_fields["root"] = str(tc.root) if tc.root else None
    superuser_dsn = None
    if prov is not None:
        socket_dir = tc.host_path(str(Path(inner_data).parent))
        _managed.bootstrap(
            prov,
            _socket_dsn(socket_dir, chosen, prov.superuser, "postgres"),
            _socket_dsn(socket_dir, chosen, prov.superuser, prov.database),
        )
        superuser_dsn = _socket_dsn(socket_dir, chosen, prov.superuser, prov.database)
    state = ServerState(
        name=name,
        route=tc.route,
        flavour=flavour,
        dsn=make_dsn(chosen, prov.admin, prov.database) if prov is not None else make_dsn(chosen),
        port=chosen,
        background_workers=background_workers,
        timezone=timezone,
        started_by_pgcron=True,
        pid=cluster.postmaster_pid(),
        data_dir=str(cluster.host_data_dir),
        log_file=str(tc.host_path(inner_log)),
        inner_data_dir=inner_data,
        inner_log_file=inner_log,
        toolchain=tc_fields,
        managed=prov.name if prov is not None else None,
        superuser_dsn=superuser_dsn,
        admin_role=prov.admin if prov is not None else None,
    )
    _save_state(state)
    _describe_server(state)
    state.running = True
    _save_state(state)
    logger.info("dev server %s up: %s (%s, pg_cron %s)", name, state.dsn, state.route, state.pg_cron_version)
    return state


# ---------------------------------------------------------------- down / status


def down(name: str = "default", *, purge: bool = False) -> ServerState | None:
    """Stop instance ``name`` if pgcron started it; with ``purge`` also delete its data. None if unknown."""
    check_name(name)
    with file_lock(f"instance-{name}"):
        state = load_state(name)
        if state is None:
            return None
        if state.started_by_pgcron:
            if state.route in ("local", "trixie"):
                _cluster_of(state).stop()
            elif state.route == "docker" and state.container:
                _docker.stop(state.container)
        state.running = False
        state.pid = None
        if purge:
            if state.route in ("local", "trixie") and state.data_dir:
                # the data dir and the log live in one per-instance directory
                target = Path(state.data_dir)
                shutil.rmtree(target.parent if target.parent.name == name else target, ignore_errors=True)
            shutil.rmtree(instance_dir(name), ignore_errors=True)
        else:
            _save_state(state)
        return state


def status(name: str = "default", *, use_env: bool = True, flavour: Flavour = "1.6") -> ServerState | None:
    """The instance's state with ``running`` refreshed, or None when there is none."""
    check_name(name)
    state = load_state(name)
    if state is None:
        env_var = _ENV_DSN[flavour]
        if use_env and os.environ.get(env_var):
            return _up_from_env(name, flavour, os.environ[env_var], env_var)
        return None
    state.running = _is_running(state)
    if state.running:
        try:
            _describe_server(state)
        except psycopg.Error as exc:
            logger.warning("could not query %s: %s", state.dsn, exc)
    return state


def route_report() -> list[tuple[str, str]]:
    """Every route and whether it is usable here (for `pgcron dev status` with no instance, and errors)."""
    report = [("dsn", "PGCRON_DSN is set" if os.environ.get("PGCRON_DSN") else "PGCRON_DSN is not set")]
    report.append(("docker", _docker.unavailable_reason() or "a Docker engine answers"))
    tc = _local.find((1, 5))
    report.append(
        (
            "local",
            f"PostgreSQL {tc.pg_version} with pg_cron {tc.pg_cron_version} in {tc.bin_dir}"
            if tc
            else "no local PostgreSQL with pg_cron >= 1.5",
        )
    )
    why = _trixie.unavailable_reason()
    if why is None:
        root = _trixie.root_path()
        why = f"built at {root}" if _trixie.built(root) else "available (built on first use, ~30-60 s)"
    report.append(("trixie", why))
    return report
