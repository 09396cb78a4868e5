"""pytest plugin: real PostgreSQL + pg_cron servers for tests (contract: docs/adr/0001).

Fixtures ``pgcron_dsn`` (pg_cron 1.6, background workers), ``pgcron_libpq_dsn`` (1.6, libpq mode),
``pgcron_both_modes_dsn`` (both of them, as params ``bgw`` / ``libpq``), ``pgcron_14_dsn`` (pg_cron
1.4.2) and ``job_prefix`` (a unique job-name prefix whose jobs are unscheduled after the test).

A flavour's server comes from its environment variable (``PGCRON_DSN``, ``PGCRON_LIBPQ_DSN``,
``PGCRON_14_DSN``) or else from the ``pgcron dev`` chain: the first test that needs a flavour starts
a private instance (``pytest-<pid>-<flavour>``, a free port), and the session stops and deletes it at
the end. A server that cannot be had fails the test — never a skip — so a run without a database
cannot look green.

Managed flavours: ``pgcron_managed`` (a :class:`ManagedServer`, parametrized over ``rds``, ``cloudsql``,
``azure``, ``supabase``, ``neon``) and ``pgcron_managed_dsn`` (its customer admin's DSN). Each is a local
emulation (``pgcron dev up --managed``), always started by the session, one at a time: moving to the next
flavour stops the previous one. Pick flavours with ``@pytest.mark.parametrize("pgcron_managed", ["rds"],
indirect=True)``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgcron.errors import DevServerError

logger = logging.getLogger(__name__)

_ENV = {"bgw": "PGCRON_DSN", "libpq": "PGCRON_LIBPQ_DSN", "14": "PGCRON_14_DSN"}
_DESCRIPTION = {
    "bgw": "PostgreSQL + pg_cron >= 1.5, background workers on",
    "libpq": "PostgreSQL + pg_cron >= 1.5, background workers off (libpq mode)",
    "14": "PostgreSQL 15 + pg_cron 1.4.2",
}
_SERVER_FIXTURES = {
    "pgcron_dsn",
    "pgcron_libpq_dsn",
    "pgcron_both_modes_dsn",
    "pgcron_14_dsn",
    "pgcron_managed",
    "pgcron_managed_dsn",
}
MANAGED_FLAVOURS = ("rds", "cloudsql", "azure", "supabase", "neon")


@dataclass(frozen=True)
class ManagedServer:
    """A running managed-flavour emulation (``pgcron dev up --managed``)."""

    flavour: str
    dsn: str  # the customer admin role's (not superuser)
    superuser_dsn: str  # the provider's superuser (Unix socket): for harness checks only
    admin_role: str
    database: str  # cron.database_name
    background_workers: bool
    name: str = ""  # the dev-server instance (`pgcron dev url -n NAME`)

    def role_dsn(self, role: str) -> str:
        """The DSN of another login role on this server (trust authentication)."""
        return make_conninfo(self.dsn, user=role)


_INSTANCE = re.compile(r"^pytest-(\d+)-")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs a PostgreSQL server with pg_cron")
    config.addinivalue_line("markers", "acceptance: drives the real CLI, Airflow or Dagster against pg_cron")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config.addinivalue_line("markers", "managed: runs on the managed-PostgreSQL emulations (pgcron_managed)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that asks for a server is an integration test, marked or not (so `-m integration` works)."""
    for item in items:
        if _SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


class PgCronServers:
    """The session's servers, one per flavour, started lazily; stops at the end what it started."""

    def __init__(self, config: pytest.Config | None = None) -> None:
        self._config = config
        self._dsns: dict[str, str] = {}
        self._errors: dict[str, str] = {}
        self._started: list[str] = []
        self._reaped = False
        self.used: set[str] = set()

    def dsn(self, flavour: str) -> str:
        if flavour not in self._dsns:
            if flavour in self._errors:  # do not retry a slow failing provisioning for every test
                pytest.fail(self._errors[flavour], pytrace=False)
            env = os.environ.get(_ENV[flavour])
            self._dsns[flavour] = env if env else self._start(flavour)
        dsn = self._dsns[flavour]
        self.used.add(dsn)
        return dsn

    def _start(self, flavour: str) -> str:
        from pgcron import dev

        self._reap_stale()
        name = f"pytest-{os.getpid()}-{flavour}"
        try:
            # Show provisioning progress (the first build takes ~30-60 s) instead of capturing it.
            with _uncaptured(self._config):
                state = dev.up(
                    name,
                    flavour="1.4" if flavour == "14" else "1.6",
                    background_workers=flavour != "libpq",
                    use_env=False,
                )
        except DevServerError as exc:
            self._errors[flavour] = _no_server_message(flavour, exc)
            pytest.fail(self._errors[flavour], pytrace=False)
        self._started.append(name)
        logger.info("started %s for flavour %s: %s", name, flavour, state.dsn)
        return state.dsn

    def managed(self, flavour: str) -> ManagedServer:
        """Start (once) the emulation of a managed provider; fails the test when it cannot be had."""
        key = f"managed-{flavour}"
        if key in self._errors:
            pytest.fail(self._errors[key], pytrace=False)
        from pgcron import dev

        self._reap_stale()
        name = f"pytest-{os.getpid()}-{key}"
        try:
            with _uncaptured(self._config):
                state = dev.up(name, managed=flavour, use_env=False)
        except DevServerError as exc:
            self._errors[key] = (
                f"no local emulation of managed flavour {flavour} for this test; it is not skipped. "
                f"pgcron dev up --managed {flavour} needs local PostgreSQL binaries with pg_cron >= 1.5 or "
                f"root on Debian:\n{exc.message}"
            )
            pytest.fail(self._errors[key], pytrace=False)
        if name not in self._started:
            self._started.append(name)
        assert state.superuser_dsn is not None and state.admin_role is not None
        database = conninfo_to_dict(state.dsn).get("dbname") or "postgres"
        self.used.add(state.superuser_dsn)
        return ManagedServer(
            flavour=flavour,
            dsn=state.dsn,
            superuser_dsn=state.superuser_dsn,
            admin_role=state.admin_role,
            database=str(database),
            background_workers=state.background_workers,
            name=name,
        )

    def stop_managed(self, flavour: str) -> None:
        from pgcron import dev

        name = f"pytest-{os.getpid()}-managed-{flavour}"
        if name in self._started:
            state = dev.load_state(name)
            if state is not None and state.superuser_dsn:
                self.used.discard(state.superuser_dsn)
            try:
                dev.down(name, purge=True)
            except DevServerError as exc:
                logger.warning("could not stop test server %s: %s", name, exc)
            self._started.remove(name)

    def _reap_stale(self) -> None:
        """Stop and delete instances left by test sessions that died without cleaning up."""
        if self._reaped:
            return
        self._reaped = True
        from pgcron import dev

        for state in dev.list_states():
            match = _INSTANCE.match(state.name)
            if match and not _pid_alive(int(match.group(1))):
                logger.info("removing stale test server %s", state.name)
                try:
                    dev.down(state.name, purge=True)
                except DevServerError as exc:
                    logger.warning("could not remove stale test server %s: %s", state.name, exc)

    def close(self) -> None:
        from pgcron import dev

        for name in self._started:
            try:
                dev.down(name, purge=True)
            except DevServerError as exc:
                logger.warning("could not stop test server %s: %s", name, exc)
        self._started.clear()


@contextlib.contextmanager
def _uncaptured(config: pytest.Config | None) -> Iterator[None]:
    capman = config.pluginmanager.getplugin("capturemanager") if config is not None else None
    if capman is None:
        yield
        return
    with capman.global_and_fixture_disabled():
        yield


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _no_server_message(flavour: str, exc: DevServerError) -> str:
    why = (
        "CI=true: tests that need pg_cron must run, so a missing server fails the run."
        if os.environ.get("CI", "").lower() == "true"
        else "This test needs a real pg_cron server; it is not skipped."
    )
    return (
        f"no {_DESCRIPTION[flavour]} server for this test. {why}\n"
        f"Set {_ENV[flavour]} to a server you run, or let pgcron start one:\n{exc.message}"
    )


@pytest.fixture(scope="session")
def pgcron_servers(pytestconfig: pytest.Config) -> Iterator[PgCronServers]:
    """The session's server registry (fixtures below draw from it; stops what it started)."""
    servers = PgCronServers(pytestconfig)
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture(scope="session")
def pgcron_dsn(pgcron_servers: PgCronServers) -> str:
    return pgcron_servers.dsn("bgw")


@pytest.fixture(scope="session")
def pgcron_libpq_dsn(pgcron_servers: PgCronServers) -> str:
    return pgcron_servers.dsn("libpq")


@pytest.fixture(scope="session", params=["bgw", "libpq"])
def pgcron_both_modes_dsn(request: pytest.FixtureRequest, pgcron_servers: PgCronServers) -> str:
    return pgcron_servers.dsn(str(request.param))


@pytest.fixture(scope="session")
def pgcron_14_dsn(pgcron_servers: PgCronServers) -> str:
    return pgcron_servers.dsn("14")


@pytest.fixture(scope="session", params=MANAGED_FLAVOURS)
def pgcron_managed(request: pytest.FixtureRequest, pgcron_servers: PgCronServers) -> Iterator[ManagedServer]:
    """A local emulation of a managed provider (param: rds, cloudsql, azure, supabase, neon).

    One at a time: pytest finishes the previous flavour's server before it starts the next.
    """
    flavour = str(request.param)
    try:
        yield pgcron_servers.managed(flavour)
    finally:
        pgcron_servers.stop_managed(flavour)


@pytest.fixture(scope="session")
def pgcron_managed_dsn(pgcron_managed: ManagedServer) -> str:
    """The customer admin role's DSN on each managed flavour (not superuser)."""
    return pgcron_managed.dsn


def unschedule_prefixed(dsn: str, prefix: str) -> int:
    """Unschedule every job whose name starts with ``prefix``; returns how many."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        rows = conn.execute(
            sql.SQL("SELECT jobid FROM cron.job WHERE starts_with(jobname, %s)"), (prefix,)
        ).fetchall()
        for (jobid,) in rows:
            conn.execute(sql.SQL("SELECT cron.unschedule(%s::bigint)"), (jobid,))
    return len(rows)


@pytest.fixture
def job_prefix(pgcron_servers: PgCronServers) -> Iterator[str]:
    """A unique job-name prefix ``t_<hex>_``; its jobs are unscheduled on every server the session used."""
    prefix = f"t_{secrets.token_hex(4)}_"
    yield prefix
    for dsn in sorted(pgcron_servers.used):
        try:
            unschedule_prefixed(dsn, prefix)
        except psycopg.OperationalError as exc:  # a test may have stopped its own server on purpose
            logger.warning("job cleanup skipped for an unreachable server: %s", exc)
