"""Managed-PostgreSQL scenarios: every flavour of `pgcron dev up --managed`, as the customer's admin role and
as ordinary app roles it creates — never as a superuser (the provider's superuser DSN is used only to look).

``managed`` is the plugin's ``pgcron_managed`` server with the engine installed by the customer's admin, two
app roles (``app_a``, ``app_b``) created by that admin and given pgcron's privileges with
``Client.grant_role`` (what ``pgcron schema grant`` runs), and ``CREATE`` on the public schema so their SQL
has somewhere to write.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from pgcron import Client
from pgcron.grants import GrantResult
from pgcron.schema import SchemaStatus, install
from pgcron.testing.plugin import ManagedServer
from psycopg import sql

from tools import support_table

APP_ROLES = ("app_a", "app_b")
#: Flavours whose app roles can use pg_cron at all (Neon: the cron schema's USAGE cannot be passed on).
APP_ROLES_SCHEDULE = {"rds": True, "cloudsql": True, "azure": True, "supabase": True, "neon": False}


@dataclass
class Managed:
    server: ManagedServer
    installed: SchemaStatus
    grants: dict[str, GrantResult]

    @property
    def flavour(self) -> str:
        return self.server.flavour

    @property
    def admin(self) -> str:
        return self.server.dsn

    @property
    def superuser(self) -> str:
        return self.server.superuser_dsn

    def dsn(self, role: str) -> str:
        return self.server.dsn if role == self.server.admin_role else self.server.role_dsn(role)

    @property
    def pushdown_roles(self) -> tuple[str, ...]:
        """The roles that can push down here: the admin, and the app roles where the provider allows."""
        apps = APP_ROLES if APP_ROLES_SCHEDULE[self.flavour] else ()
        return (self.server.admin_role, *apps)


def connect(dsn: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=10)


def rows(dsn: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with connect(dsn) as conn:
        cur = conn.execute(sql.SQL(query), params)  # type: ignore[arg-type]  # test-only constant queries
        return cur.fetchall() if cur.description is not None else []


def scalar(dsn: str, query: str, params: tuple[Any, ...] = ()) -> Any:
    found = rows(dsn, query, params)
    return found[0][0] if found else None


def ledger(managed: Managed, role: str, name: str | None = None) -> sql.Identifier:
    """A fresh table ``public.<name>`` (default ``ledger_<role>``) owned by ``role``: ``who``, ``at``."""
    table = sql.Identifier("public", name or f"ledger_{role}")
    with connect(managed.dsn(role)) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(
            sql.SQL("CREATE TABLE {} (who text, at timestamptz DEFAULT clock_timestamp())").format(table)
        )
    return table


def eventually(check: Callable[[], Any], *, timeout: float = 30.0, every: float = 0.5) -> Any:
    """``check()``'s first truthy value within ``timeout`` seconds; its last value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


@pytest.fixture(scope="session")
def managed(pgcron_managed: ManagedServer) -> Iterator[Managed]:
    status = install(pgcron_managed.dsn)
    grants: dict[str, GrantResult] = {}
    with connect(pgcron_managed.dsn) as conn, Client.connect(pgcron_managed.dsn) as client:
        for role in APP_ROLES:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(role)))
            grants[role] = client.grant_role(role)
    yield Managed(pgcron_managed, status, grants)


# ---------------------------------------------------------------- the support table's results
# Each managed test's outcome per flavour goes to build/managed-support-results.json, from which
# tools/support_table.py renders docs/managed-postgres.md's support table. In CI (the whole matrix runs) the
# session fails when the page claims a cell the run did not back, or differs from what the run showed.

_flavour_of: dict[str, tuple[str, str]] = {}  # nodeid -> ("file.py::test_name", flavour)
_outcomes: support_table.Results = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(item, "callspec", None)
        flavour = params.params.get("pgcron_managed") if params is not None else None
        if flavour is not None and item.path.parent.name == "managed":
            name = getattr(item, "originalname", item.name)
            _flavour_of[item.nodeid] = (f"{item.path.name}::{name}", str(flavour))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    found = _flavour_of.get(report.nodeid)
    if found is None or (report.when != "call" and not report.failed and not report.skipped):
        return
    test, flavour = found
    outcome = "failed" if report.failed else "skipped" if report.skipped else "passed"
    previous = _outcomes.setdefault(test, {}).get(flavour)
    if previous != "failed" and not (previous == "passed" and outcome == "skipped"):
        _outcomes[test][flavour] = outcome


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _outcomes:
        return
    # merged into the earlier runs' results, so re-running one test updates its cells only (a fresh clone,
    # CI's case, starts from none)
    path = support_table.RESULTS
    merged = support_table.load_results(path)
    for test, by_flavour in _outcomes.items():
        merged.setdefault(test, {}).update(by_flavour)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    path.write_text(json.dumps({"finished": stamp, "results": merged}, indent=1, sort_keys=True) + "\n")
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        return
    spec = support_table.load_spec()
    problems = [f"not backed by this run: {gap}" for gap in support_table.gaps(spec, _outcomes)]
    table = support_table.render(spec, _outcomes)
    if support_table.page_table(support_table.DOC.read_text()) != table:
        problems.append(
            "docs/managed-postgres.md's support table differs from this run's results: "
            "run `hatch run python tools/support_table.py --write` after `hatch run test tests/managed`"
        )
    if problems:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        for problem in problems:
            if reporter is not None:
                reporter.write_line(f"pgcron support table: {problem}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
