"""Lock DoS: whatever locks mallory takes and holds (table locks, row locks, open transactions), alice's
submit and the engine's maintenance go on, and a superuser's apply is not stalled for more than a few seconds
(issue 11, row 9)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pgcron
import psycopg
import pytest
from pgcron.models import JobSpec, RunStatus
from psycopg import sql

from .conftest import (
    ALICE,
    MALLORY,
    Cluster,
    connect,
    job_exists,
    ledger,
    ledger_insert,
    poll,
    query_all,
    scalar,
)

pytestmark = pytest.mark.integration

#: "A few seconds": alice's run_now normally takes ~2 s (pg_cron's first firing of a new job).
STALL_BOUND_S = 15.0
LOCK_MODES = ("ACCESS EXCLUSIVE", "EXCLUSIVE", "SHARE ROW EXCLUSIVE", "SHARE", "SHARE UPDATE EXCLUSIVE")


class Timed:
    """Run ``fn`` in a thread; ``finished_within(s)`` tells whether it ended (either way) in time."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self._fn = fn
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started = time.monotonic()
        self._thread.start()

    def _run(self) -> None:
        try:
            self.result = self._fn()
        except BaseException as exc:  # noqa: BLE001 - reported through .error
            self.error = exc

    def finished_within(self, seconds: float) -> bool:
        self._thread.join(max(0.0, seconds - (time.monotonic() - self.started)))
        return not self._thread.is_alive()

    def join(self) -> None:
        self._thread.join(60)


@contextlib.contextmanager
def held(
    c: Cluster, *statements: tuple[sql.Composable | str, tuple[Any, ...]], first: bool = False
) -> Iterator[list[str]]:
    """An open transaction of mallory's, holding whatever of ``statements`` she was allowed to run (with
    ``first``: only the first she may); yields what she got. Rolled back at the end."""
    conn = connect(c.mallory, autocommit=False)
    got: list[str] = []
    try:
        conn.execute("SELECT 1")  # opens the transaction: each statement below is a savepoint inside it
        for stmt, params in statements:
            try:
                with conn.transaction():  # a savepoint: a refused statement keeps the earlier locks
                    conn.execute(stmt if isinstance(stmt, sql.Composable) else sql.SQL(stmt), params)  # type: ignore[arg-type]
                got.append(stmt.as_string(conn) if isinstance(stmt, sql.Composable) else stmt)
            except psycopg.Error:
                continue
            if first:
                break
        yield got
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.rollback()
        conn.close()


def table_locks(table: str) -> list[tuple[sql.Composable, tuple[Any, ...]]]:
    """LOCK TABLE pgcron.<table> in each mode, strongest first."""
    return [
        (sql.SQL("LOCK TABLE {} IN {} MODE").format(sql.Identifier("pgcron", table), sql.SQL(mode)), ())
        for mode in LOCK_MODES
    ]


def alice_run(c: Cluster, token: str) -> pgcron.Run:
    with pgcron.Client.connect(c.alice) as client:
        return client.run_now(ledger_insert(token), timeout=60)


def assert_alice_unstalled(c: Cluster, token: str, what: list[str]) -> None:
    """Alice's run_now finishes promptly and its temporary job is removed, while mallory's locks are held."""
    timed = Timed(lambda: alice_run(c, token))
    assert timed.finished_within(STALL_BOUND_S), f"alice's run_now stalled > {STALL_BOUND_S} s by {what}"
    assert timed.error is None, f"alice's run_now failed: {timed.error!r}"
    run: pgcron.Run = timed.result
    assert run.status is RunStatus.SUCCEEDED and ledger(c.dsn, token) == [ALICE]
    assert poll(lambda: not job_exists(c.dsn, run.jobid), 25), (
        f"maintenance did not remove alice's temporary job {run.jobid} while mallory held {what}"
    )


@pytest.mark.parametrize("table", ["submission", "applied_job"])
def test_table_lock_does_not_stall_submit_or_maintenance(cluster: Cluster, token: str, table: str) -> None:
    """Row 9: `LOCK TABLE pgcron.<table>` in the strongest mode mallory may take, held open."""
    with held(cluster, *table_locks(table), first=True) as got:
        assert_alice_unstalled(cluster, token, got)


def test_table_lock_does_not_stall_a_superusers_apply(cluster: Cluster, namespace: str) -> None:
    """Row 9: `LOCK TABLE pgcron.applied_job` held open must not stall a superuser's apply."""
    with held(cluster, *table_locks("applied_job"), first=True) as got:

        def deploy() -> None:
            with pgcron.Client.connect(cluster.dsn) as client:
                client.apply(client.plan([JobSpec("job", "0 0 1 1 *", "SELECT 1")], namespace=namespace))

        timed = Timed(deploy)
        assert timed.finished_within(STALL_BOUND_S), f"the superuser's apply stalled by {got}"
    timed.join()


def test_row_locks_do_not_stall_maintenance(cluster: Cluster, token: str) -> None:
    """Row 9: mallory locks her own finished submission row (FOR UPDATE where she may, or through an engine
    function that updates it) and keeps the transaction open: maintenance must still serve alice."""
    key = f"m-rowlock-{token}"
    query_all(cluster.mallory, "SELECT * FROM pgcron.submit('SELECT 1', %s)", (key,))
    assert poll(
        lambda: bool(
            scalar(
                cluster.mallory,
                "SELECT finished_at IS NOT NULL FROM pgcron.submission WHERE key = %s",
                (key,),
            )
        ),
        30,
        interval=0.05,
    ), "mallory's own submission did not finish"
    mine = sql.SQL("SELECT id FROM pgcron.submission WHERE key = {}").format(sql.Literal(key))
    with held(
        cluster,
        (sql.SQL("SELECT * FROM pgcron.submission WHERE key = %s FOR UPDATE"), (key,)),
        (sql.SQL("SELECT pgcron.cancel_submission(({}))").format(mine), ()),
    ) as got:
        assert_alice_unstalled(cluster, token, got)


def test_open_same_name_upsert_does_not_stall_a_superusers_apply(cluster: Cluster, namespace: str) -> None:
    """Row 9: mallory's job with the name the superuser deploys, re-upserted in an open transaction (a row
    lock on cron.job): the superuser's apply must not wait for her."""
    name = f"{namespace}:report"
    query_all(cluster.mallory, "SELECT cron.schedule(%s, '0 0 1 1 *', 'SELECT 1')", (name,))
    with held(cluster, ("SELECT cron.schedule(%s, '0 0 1 1 *', 'SELECT 2')", (name,))) as got:
        assert got, "mallory could not upsert her own job"

        def deploy() -> None:
            with pgcron.Client.connect(cluster.dsn) as client:
                client.apply(client.plan([JobSpec("report", "0 0 1 1 *", "SELECT 1")], namespace=namespace))

        timed = Timed(deploy)
        assert timed.finished_within(STALL_BOUND_S), "the superuser's apply waited for mallory's transaction"
    timed.join()
    assert timed.error is None, f"the superuser's apply failed: {timed.error!r}"
    owners = {
        r[0] for r in query_all(cluster.dsn, "SELECT username FROM cron.job WHERE jobname = %s", (name,))
    }
    assert owners == {MALLORY, cluster.superuser}, owners
