"""Firing fidelity: real pg_cron start minutes equal ``next_times()`` in a +05:45 zone.

Starts a throw-away PostgreSQL 17 + pg_cron 1.6 server with ``cron.timezone = 'Asia/Kathmandu'``
through ``pgcron.dev`` (its own instance name and free port; purged afterwards), schedules a few
minute schedules, watches ``cron.job_run_details`` for about three minutes and compares the
observed start minutes with the engine's prediction.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from pgcron import Schedule
from pgcron.dev import down, up

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ZONE = "Asia/Kathmandu"
WINDOW = timedelta(minutes=3)


@pytest.fixture(scope="module")
def kathmandu_dsn() -> Iterator[str]:
    name = f"sched-fidelity-{secrets.token_hex(3)}"
    state = up(name, flavour="1.6", timezone=ZONE, use_env=False)
    try:
        with psycopg.connect(state.dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
            assert conn.execute("SHOW cron.timezone").fetchone() == (ZONE,)
        yield state.dsn
    finally:
        down(name, purge=True)


def _minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def test_start_minutes_equal_next_times(kathmandu_dsn: str) -> None:
    with psycopg.connect(kathmandu_dsn, autocommit=True) as conn:
        now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        after = now + timedelta(seconds=5)  # the launcher needs ~1 s to pick a new job up
        fixed = (_minute(after) + timedelta(minutes=2)).astimezone(ZoneInfo(ZONE))
        schedules = {
            "every": "* * * * *",
            "even": "*/2 * * * *",
            "fixed": f"{fixed.minute} {fixed.hour} * * *",  # a Kathmandu wall-clock minute
        }
        jobids = {}
        for label, text in schedules.items():
            Schedule.parse(text)  # strict: these are clean schedules
            row = conn.execute(
                "SELECT cron.schedule(%s::text, %s::text, 'SELECT 1')", (f"fidelity_{label}", text)
            ).fetchone()
            assert row is not None
            jobids[label] = row[0]
        end = after + WINDOW
        expected = {
            label: [_minute(t) for t in Schedule.parse(text).next_times(after, 10, timezone=ZONE) if t <= end]
            for label, text in schedules.items()
        }
        assert expected["fixed"] == [_minute(fixed)]

        def observed() -> dict[str, list[datetime]]:
            rows = conn.execute(
                "SELECT jobid, start_time FROM cron.job_run_details "
                "WHERE jobid = ANY(%s) AND start_time IS NOT NULL ORDER BY start_time",
                (list(jobids.values()),),
            ).fetchall()
            by_label = {label: [] for label in schedules}  # type: dict[str, list[datetime]]
            for jobid, start in rows:
                label = next(k for k, v in jobids.items() if v == jobid)
                minute = _minute(start)
                if _minute(after) < minute <= end:
                    by_label[label].append(minute)
            return by_label

        # poll until the window is over (plus slack for the last run's row), not a fixed sleep
        deadline = end + timedelta(seconds=20)
        seen = observed()
        while datetime.now(UTC) < deadline:
            seen = observed()
            if all(seen[k][-1:] == expected[k][-1:] for k in schedules) and datetime.now(UTC) > end:
                break
            time.sleep(2)
        for jobid in jobids.values():
            conn.execute("SELECT cron.unschedule(%s::bigint)", (jobid,))
    assert seen == expected
    assert len(expected["every"]) >= 3 and len(expected["even"]) >= 1
