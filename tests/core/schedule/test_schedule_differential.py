"""Compat verdicts must equal real pg_cron's: every generated string, on 1.6 and on 1.4.2.

One connection, one transaction that is rolled back at the end; each string is tried inside a
savepoint with ``cron.schedule(name, schedule, 'SELECT 1')``, so no job ever reaches the launcher.
"""

from __future__ import annotations

import psycopg
import pytest
from pgcron import Schedule, ScheduleError
from schedule_generator import FACT_CASES, schedule_strings

pytestmark = pytest.mark.integration

STRINGS = schedule_strings()


def _server_verdicts(dsn: str, prefix: str, strings: list[str]) -> dict[str, bool]:
    verdicts: dict[str, bool] = {}
    with psycopg.connect(dsn) as conn:
        for index, text in enumerate(strings):
            conn.execute("SAVEPOINT verdict")
            try:
                conn.execute(
                    "SELECT cron.schedule(%s::text, %s::text, 'SELECT 1')", (f"{prefix}{index}", text)
                )
            except psycopg.errors.InvalidParameterValue as exc:
                assert str(exc).startswith("invalid schedule"), exc
                verdicts[text] = False
            else:
                verdicts[text] = True
            conn.execute("ROLLBACK TO SAVEPOINT verdict")
        conn.rollback()
    return verdicts


def _ours(text: str, version: str) -> bool:
    try:
        Schedule.parse(text, pgcron_version=version, strict=False)
    except ScheduleError:
        return False
    return True


def _check(dsn: str, prefix: str, version: str) -> None:
    real = _server_verdicts(dsn, prefix, STRINGS)
    disagreements = [
        (text, real[text], ours) for text in STRINGS if (ours := _ours(text, version)) != real[text]
    ]
    report = "\n".join(
        f"  {text!r}: pg_cron {'accepts' if server else 'rejects'}, compat {'accepts' if ours else 'rejects'}"
        for text, server, ours in disagreements
    )
    accepted = sum(real.values())
    print(
        f"pg_cron {version}: {len(STRINGS) - len(disagreements)}/{len(STRINGS)} agree "
        f"({accepted} accepted, {len(STRINGS) - accepted} rejected by the server)"
    )
    assert not disagreements, f"{len(disagreements)} disagreements with pg_cron {version}:\n{report}"


def test_generator_is_large_and_covers_the_facts() -> None:
    assert len(STRINGS) >= 500
    assert set(FACT_CASES) <= set(STRINGS)
    assert schedule_strings() == STRINGS  # seeded: the same list every run


def test_compat_verdicts_equal_pg_cron_16(pgcron_dsn: str, job_prefix: str) -> None:
    _check(pgcron_dsn, job_prefix, "1.6")


def test_compat_verdicts_equal_pg_cron_142(pgcron_14_dsn: str, job_prefix: str) -> None:
    _check(pgcron_14_dsn, job_prefix, "1.4")


def test_strict_accepts_only_what_pg_cron_accepts(pgcron_dsn: str, job_prefix: str) -> None:
    """Strict is compat minus the quirks: never accepts a string the server would reject."""
    real = _server_verdicts(pgcron_dsn, job_prefix, STRINGS)
    for text in STRINGS:
        try:
            Schedule.parse(text, pgcron_version="1.6")
        except ScheduleError:
            continue
        assert real[text], f"strict accepted {text!r}, which pg_cron rejects"
