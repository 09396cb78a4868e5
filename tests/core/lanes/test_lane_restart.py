"""A lane across a PostgreSQL restart (a private throwaway cluster per mode: never restart shared servers):
the run in flight is reported lost and never re-run, and pg_cron brings the lane back by itself."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from pgcron import Client
from pgcron.models import RunStatus
from pgcron.schema import install
from psycopg import sql

from .conftest import COUNTER, as_role, count, insert_sql, query_one, wait_until

pytestmark = pytest.mark.timeout(300)

ROLE = "lane_restart_alice"


@pytest.fixture(params=["bgw", "libpq"])
def restartable(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    from pgcron import dev

    name = f"pytest-{os.getpid()}-lane-restart-{request.param}"
    state = dev.up(name, flavour="1.6", background_workers=request.param == "bgw", use_env=False)
    try:
        install(state.dsn)
        with psycopg.connect(state.dsn, autocommit=True) as conn:
            table = sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (token text NOT NULL, at timestamptz DEFAULT now())"
            )
            conn.execute(table.format(sql.Identifier(COUNTER)))
            conn.execute(sql.SQL("GRANT SELECT, INSERT ON {} TO PUBLIC").format(sql.Identifier(COUNTER)))
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(ROLE)))
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA cron TO {}").format(sql.Identifier(ROLE)))
        yield name, state.dsn
    finally:
        dev.down(name, purge=True)


def _restart(name: str) -> None:
    from pgcron.dev._server import _cluster_of, load_state

    state = load_state(name)
    assert state is not None and state.route in ("local", "trixie"), "restart needs a local cluster"
    cluster = _cluster_of(state)
    cluster.stop()
    cluster.start()


def test_restart_mid_run_reports_lost_and_the_lane_comes_back(restartable, token):
    name, su = restartable
    alice = as_role(su, ROLE)
    with Client.connect(alice) as client:
        client.lane_start(1)
        handle = client.submit(insert_sql(token, "SELECT pg_sleep(60)"))
        assert handle.via == "lane"
        wait_until(
            lambda: (
                query_one(
                    su,
                    "SELECT claimed_at IS NOT NULL FROM pgcron.submission WHERE id = %s",
                    (handle.submission_id,),
                )
                == (True,)
            ),
            10,
            "the lane to start the run",
        )
    _restart(name)  # fast shutdown kills the run in flight
    with Client.connect(alice) as client:
        run = client.wait(handle, timeout=60)
        assert run.status is RunStatus.LOST, run
        assert count(su, token) == 0
        wait_until(lambda: client.lane_status().live == 1, 30, "pg_cron to start the lane again")
        again = client.run_now(insert_sql(token + "a"), timeout=30)
        assert again.status is RunStatus.SUCCEEDED and again.via == "lane"
        assert count(su, token) == 0 and count(su, token + "a") == 1
        client.lane_stop()
