"""The compat subset on pg_cron 1.4.2 (Debian bookworm, extversion 1.4-1): jobs, schedule, unschedule, runs,
and clear UnsupportedFeature/ScheduleError messages where 1.4.2 lacks a feature."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pgcron import Client, JobSpec, RunStatus
from pgcron.errors import JobNotFound, ScheduleError, UnsupportedFeature

from .conftest import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def client14(pgcron_14_dsn: str) -> Iterator[Client]:
    with Client.connect(pgcron_14_dsn) as c:
        yield c


def test_capabilities_of_1_4_2(client14: Client) -> None:
    caps = client14.capabilities()
    assert caps.extversion == "1.4-1"
    assert caps.library_version == "1.4.2"
    assert not caps.has_intervals and not caps.has_last_day
    assert caps.jobname_max_bytes == 63
    assert caps.has_alter_job and caps.has_schedule_in_database
    assert caps.timezone == "GMT"  # no cron.timezone before 1.5: always GMT


def test_schedule_upsert_alter_unschedule(client14: Client, job_prefix: str) -> None:
    name = f"{job_prefix}compat"
    job = client14.schedule(JobSpec(name=name, schedule="0 3 * * *", command="SELECT 1"))
    again = client14.schedule(JobSpec(name=name, schedule="0 4 * * *", command="SELECT 2"))
    assert again.jobid == job.jobid and again.schedule == "0 4 * * *"
    assert again in client14.jobs()
    assert client14.alter(name, active=False).active is False
    client14.unschedule(name)  # by id under the hood: unschedule(name) takes type name on 1.4
    with pytest.raises(JobNotFound):
        client14.job(name)


def test_long_names_are_refused_instead_of_truncated(client14: Client, job_prefix: str) -> None:
    name = job_prefix + "x" * 64
    with pytest.raises(UnsupportedFeature, match="63 bytes") as info:
        client14.schedule(JobSpec(name=name, schedule="0 3 * * *", command="SELECT 1"))
    assert "upgrade pg_cron" in info.value.message
    assert all(not (j.name or "").startswith(job_prefix) for j in client14.jobs())


@pytest.mark.parametrize("schedule", ["1 seconds", "0 0 $ * *"])
def test_newer_schedule_syntax_is_refused_on_1_4(client14: Client, job_prefix: str, schedule: str) -> None:
    with pytest.raises(ScheduleError):
        client14.schedule(JobSpec(name=f"{job_prefix}new", schedule=schedule, command="SELECT 1"))


@pytest.mark.slow
def test_runs_on_1_4(client14: Client, job_prefix: str) -> None:
    # 1.4.2 has no seconds: a per-minute job runs within about a minute.
    job = client14.schedule(JobSpec(name=f"{job_prefix}runs", schedule="* * * * *", command="SELECT 1/0"))
    run = wait_for(
        lambda: (rs := client14.runs(job=job.jobid)) and rs[0].status.is_terminal and rs[0],
        timeout=75,
        interval=1.0,
        what="the per-minute run on 1.4.2",
    )
    client14.unschedule(job.jobid)
    assert run.status is RunStatus.FAILED
    assert run.message == "ERROR: division by zero"
    assert client14.run(run.runid) == run
