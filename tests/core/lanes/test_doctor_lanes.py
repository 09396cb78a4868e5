"""Doctor counts lane workers against cron.max_running_jobs (each holds a slot for as long as it lives)."""

from __future__ import annotations

import pgcron
import psycopg
import pytest

pytestmark = pytest.mark.integration


def _lanes_check(client: pgcron.Client) -> tuple[str, str]:
    check = next(c for c in client.doctor() if c.name == "lanes")
    return check.status.value, check.detail


def test_doctor_warns_when_lanes_would_starve_scheduled_jobs(engine_dsn: str) -> None:
    with psycopg.connect(engine_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT current_setting('cron.max_running_jobs')::int").fetchone()
    assert row is not None
    cap = int(row[0])
    with pgcron.Client.connect(engine_dsn) as client:
        try:
            client.lane_start(workers=1)
            status, detail = _lanes_check(client)
            if cap - 1 - 1 >= 2:  # one worker beside the engine job leaves room
                assert status == "PASS", detail
            client.lane_start(workers=max(cap - 2, 2))
            status, detail = _lanes_check(client)
            assert status == "WARN", detail
            assert "max_running_jobs" in detail
        finally:
            client.lane_stop()
