"""Slot admission control (migration 0007, docs/adr/0010-slot-admission.md) on every managed flavour, as the
customer's admin and as an app role at once. Only on RDS may the engine owner read
``cron.max_running_jobs`` (``rds_superuser`` is in ``pg_monitor``, hence ``pg_read_all_settings``); elsewhere
``'auto'`` assumes 5. Either way the budget is 5 - 2 (reserve) = 3 here, and the admin may set the cap in
``pgcron.config``, an app role may not.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pgcron
import psycopg
import pytest
from pgcron.doctor import Check, Status
from pgcron.models import RunStatus
from psycopg import sql

from tests.core.pushdown.test_admission import _max_overlap
from tests.managed.conftest import Managed, connect, ledger, rows

pytestmark = [pytest.mark.integration, pytest.mark.managed]

BURST = 8
#: Where the customer admin (the engine owner) may read cron.* settings: RDS's rds_superuser is in pg_monitor.
READS_CRON_SETTINGS = {"rds": True, "cloudsql": False, "azure": False, "supabase": False, "neon": False}


def _status(dsn: str) -> dict[str, Any]:
    with connect(dsn) as conn:
        cur = conn.execute("SELECT * FROM pgcron.admission_status()")
        row = cur.fetchone()
        assert row is not None and cur.description is not None
        return dict(zip([c.name for c in cur.description], row, strict=True))


async def _burst(dsn: str, commands: list[str]) -> tuple[list[pgcron.RunHandle], list[pgcron.Run]]:
    async with await pgcron.AsyncClient.connect(dsn) as client:
        handles = [await client.submit(command) for command in commands]
        runs = await asyncio.gather(*(client.wait(h, timeout=120) for h in handles))
    return handles, list(runs)


async def test_a_burst_of_two_roles_never_runs_more_than_the_budget(managed: Managed) -> None:
    status = _status(managed.admin)
    # 'auto': the setting where the engine owner may read it (RDS: 5), else the assumed 5.
    assert (status["slot_cap"], status["slot_reserve"], status["lane_workers"]) == (5, 2, 0), status
    budget = status["budget"]
    assert budget == 3
    roles = managed.pushdown_roles[:2]  # the admin and app_a (Neon: the admin alone)
    per_role = BURST // len(roles)
    commands: dict[str, list[str]] = {}
    tables: dict[str, sql.Identifier] = {}
    for role in roles:
        table = tables[role] = ledger(managed, role, f"admission_{role}")
        insert = sql.SQL("INSERT INTO {} (who) SELECT current_user || {}")
        commands[role] = [
            insert.format(table, sql.Literal(f":{i}")).as_string(None) + "; SELECT pg_sleep(0.4)"
            for i in range(per_role)
        ]

    results = await asyncio.gather(*(_burst(managed.dsn(role), commands[role]) for role in roles))
    handles = [h for role_handles, _ in results for h in role_handles]
    runs = [r for _, role_runs in results for r in role_runs]
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * len(handles), runs
    # more than the budget was submitted at once, so some waited in the queue without a job
    assert sum(h.jobid is None for h in handles) >= len(handles) - budget
    for role in roles:  # each ran exactly once, as its own role
        query = sql.SQL("SELECT who FROM {} ORDER BY who").format(tables[role]).as_string(None)
        found = rows(managed.dsn(role), query)
        assert found == [(f"{role}:{i}",) for i in range(per_role)], (role, found)
    spans = rows(
        managed.superuser,
        "SELECT claimed_at, finished_at FROM pgcron.submission WHERE id = ANY(%s)",
        ([h.submission_id for h in handles],),
    )
    # Without admission pg_cron would run 5 (RDS, Cloud SQL) or all 8 (libpq mode) of these runs at once.
    assert _max_overlap([(start, end) for start, end in spans]) <= budget, spans
    assert _status(managed.admin)["queued"] == 0


def test_doctor_shows_the_slots_and_the_admin_sets_the_cap(managed: Managed) -> None:
    def slots(dsn: str) -> Check:
        with pgcron.Client.connect(dsn) as client:
            return next(c for c in client.doctor() if c.name == "slots")

    check = slots(managed.admin)
    assert check.status is Status.PASS, check.to_dict()
    assert "pushdown budget 3" in check.detail and ": 2 reserved" in check.detail, check.to_dict()
    if READS_CRON_SETTINGS[managed.flavour]:
        assert "cron.max_running_jobs 5: 2 reserved" in check.detail, check.to_dict()
    else:  # doctor says the 5 is an assumption, and how to set the provider's real cap
        assert "cron.max_running_jobs assumed 5 (the setting cannot be read here)" in check.detail
        assert "UPDATE pgcron.config" in check.hint, check.to_dict()
    role = managed.pushdown_roles[-1]
    if role != managed.server.admin_role:  # the check needs no more than pgcron's grants
        assert slots(managed.dsn(role)).status is Status.PASS
        with connect(managed.dsn(role)) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE pgcron.config SET value = '1000' WHERE name = 'max_running_jobs'")
    # The fix for a cap the engine cannot read (Azure, Supabase: 32): the engine owner sets it. Where doctor
    # can read the real setting (RDS: 5) it warns that the configured cap is wrong; elsewhere it cannot tell.
    with connect(managed.admin) as conn:
        conn.execute("UPDATE pgcron.config SET value = '32' WHERE name = 'max_running_jobs'")
    try:
        assert _status(managed.admin)["budget"] == 30
        check = slots(managed.admin)
        configured = "cron.max_running_jobs 32 (as set in pgcron.config): 2 reserved"
        assert configured in check.detail, check.to_dict()
        if READS_CRON_SETTINGS[managed.flavour]:
            assert check.status is Status.WARN and "cron.max_running_jobs is 5" in check.detail, (
                check.to_dict()
            )
        else:
            assert check.status is Status.PASS, check.to_dict()
    finally:
        with connect(managed.admin) as conn:
            conn.execute("UPDATE pgcron.config SET value = 'auto' WHERE name = 'max_running_jobs'")
    assert _status(managed.admin)["budget"] == 3
