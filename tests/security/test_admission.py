"""Slot admission control (migration 0007) against a hostile role: mallory can neither admit, unqueue nor
starve alice's queued submissions, nor change the budget."""

from __future__ import annotations

import pgcron
import pytest
from pgcron.models import RunStatus

from .conftest import ALICE, Cluster, attempt, connect, ledger, ledger_insert, scalar

pytestmark = pytest.mark.integration


def test_mallory_cannot_admit_or_steer_alices_queue(cluster: Cluster, token: str) -> None:
    with connect(cluster.dsn) as su:
        old = dict(su.execute("SELECT name, value FROM pgcron.config").fetchall())
        # A budget of one: alice's second submission waits in the queue.
        su.execute("UPDATE pgcron.config SET value = '3' WHERE name = 'max_running_jobs'")
        su.execute("UPDATE pgcron.config SET value = '2' WHERE name = 'pushdown_slot_reserve'")
    try:
        with pgcron.Client.connect(cluster.alice) as client:
            first = client.submit(ledger_insert(f"{token}a") + "; SELECT pg_sleep(2)")
            queued = client.submit(ledger_insert(token))
            assert first.jobid is not None and queued.jobid is None
            errors = attempt(
                cluster.mallory,
                ("SELECT * FROM pgcron._admission_take(%s, %s)", (ALICE, queued.submission_id)),
                ("SELECT * FROM pgcron._admission_take(%s, NULL)", (ALICE,)),
                ("SELECT * FROM pgcron.admit_queued()", ()),
                ("UPDATE pgcron.config SET value = '1000' WHERE name = 'max_running_jobs'", ()),
                ("UPDATE pgcron.config SET value = '0' WHERE name = 'pushdown_slot_reserve'", ()),
                ("SELECT pgcron.cancel_submission(%s)", (queued.submission_id,)),
            )
            assert len(errors) >= 5, errors  # all but mallory's own (empty) admit_queued are refused
            # Still queued for alice and unchanged: no job, not canceled, and the budget is the superuser's.
            row = scalar(
                cluster.dsn,
                "SELECT row(jobid, cancel_requested_at, submitted_by)::text FROM pgcron.submission "
                "WHERE id = %s",
                (queued.submission_id,),
            )
            assert row == f"(,,{ALICE})"
            assert scalar(cluster.dsn, "SELECT budget FROM pgcron.admission_status()") == 1
            # Alice's own waiter admits it once her first run frees the slot; it runs once, as alice.
            run = client.wait(queued, timeout=60)
        assert run.status is RunStatus.SUCCEEDED
        assert ledger(cluster.dsn, token) == [ALICE]
    finally:
        with connect(cluster.dsn) as su:
            for name in ("max_running_jobs", "pushdown_slot_reserve"):
                su.execute("UPDATE pgcron.config SET value = %s WHERE name = %s", (old[name], name))
