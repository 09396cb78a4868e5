"""Client integration: capabilities, jobs, schedule/alter/unschedule on real pg_cron 1.6 in both modes."""

from __future__ import annotations

import psycopg
import pytest
from pgcron import AsyncClient, Client, JobSpec
from pgcron.errors import JobNotFound, PgCronError, ScheduleError, UnsupportedCommand
from psycopg_pool import AsyncConnectionPool, ConnectionPool

pytestmark = pytest.mark.integration


def test_capabilities_describe_the_server(client: Client, mode: str) -> None:
    caps = client.capabilities()
    assert caps.extversion == "1.6"
    assert caps.library_version is not None and caps.library_version.startswith("1.6")
    assert caps.execution_mode == mode
    assert caps.is_bgw is (mode == "bgw")
    assert caps.settings_visible and caps.is_superuser
    assert caps.log_run is True
    assert caps.has_intervals and caps.has_last_day and caps.has_alter_job
    assert caps.jobname_max_bytes is None
    assert caps.max_running_jobs is not None and caps.max_running_jobs >= 1
    assert caps.launcher_running and caps.launcher_backend_start is not None
    # detected once per client
    assert client.capabilities() is caps
    assert client.capabilities(refresh=True) is not caps


def test_schedule_is_a_same_name_upsert_that_keeps_the_jobid(client: Client, job_prefix: str) -> None:
    name = f"{job_prefix}upsert"
    first = client.schedule(JobSpec(name=name, schedule="0 3 * * *", command="SELECT 1"))
    second = client.schedule(JobSpec(name=name, schedule="*/5 * * * *", command="SELECT 2"))
    assert second.jobid == first.jobid
    assert (second.schedule, second.command, second.active) == ("*/5 * * * *", "SELECT 2", True)
    assert client.job(name) == second
    assert client.job(first.jobid) == second
    assert second in client.jobs()


def test_active_false_and_back_through_schedule(client: Client, job_prefix: str) -> None:
    name = f"{job_prefix}active"
    off = client.schedule(JobSpec(name=name, schedule="0 3 * * *", command="SELECT 1", active=False))
    assert off.active is False
    # pg_cron's upsert ignores active; the client makes the job match the spec
    on = client.schedule(JobSpec(name=name, schedule="0 3 * * *", command="SELECT 1"))
    assert (on.jobid, on.active) == (off.jobid, True)


def test_schedule_in_database_with_username(client: Client, job_prefix: str) -> None:
    job = client.schedule(
        JobSpec(
            name=f"{job_prefix}indb",
            schedule="0 3 * * *",
            command="SELECT 1",
            database="postgres",
            username="postgres",
        )
    )
    assert (job.database, job.username) == ("postgres", "postgres")


def test_alter_changes_only_what_is_given(client: Client, job_prefix: str) -> None:
    name = f"{job_prefix}alter"
    job = client.schedule(JobSpec(name=name, schedule="0 3 * * *", command="SELECT 1"))
    altered = client.alter(name, schedule="0 4 * * *", active=False)
    assert altered.jobid == job.jobid
    assert (altered.schedule, altered.command, altered.active) == ("0 4 * * *", "SELECT 1", False)
    with pytest.raises(PgCronError, match="at least one"):
        client.alter(name)


def test_unschedule_by_name_and_by_id(client: Client, job_prefix: str) -> None:
    a = client.schedule(JobSpec(name=f"{job_prefix}a", schedule="0 3 * * *", command="SELECT 1"))
    b = client.schedule(JobSpec(name=f"{job_prefix}b", schedule="0 3 * * *", command="SELECT 1"))
    client.unschedule(f"{job_prefix}a")
    client.unschedule(b.jobid)
    for ref in (a.jobid, b.jobid, f"{job_prefix}a"):
        with pytest.raises(JobNotFound):
            client.job(ref)
    with pytest.raises(JobNotFound):
        client.unschedule(f"{job_prefix}a")


@pytest.mark.parametrize(
    ("schedule", "error"),
    [("61 * * * *", ScheduleError), ("0 0 1 1 * *", ScheduleError), ("@yearly", ScheduleError)],
)
def test_bad_schedules_never_reach_pg_cron(
    client: Client, job_prefix: str, schedule: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        client.schedule(JobSpec(name=f"{job_prefix}bad", schedule=schedule, command="SELECT 1"))
    with pytest.raises(JobNotFound):
        client.job(f"{job_prefix}bad")


@pytest.mark.parametrize("command", ["COPY pg_class TO STDOUT", "", "-- nothing"])
def test_unsafe_commands_never_reach_pg_cron(client: Client, job_prefix: str, command: str) -> None:
    with pytest.raises(UnsupportedCommand):
        client.schedule(JobSpec(name=f"{job_prefix}unsafe", schedule="0 3 * * *", command=command))
    with pytest.raises(JobNotFound):
        client.job(f"{job_prefix}unsafe")


def test_transaction_control_is_refused_only_in_bgw_mode(client: Client, job_prefix: str, mode: str) -> None:
    spec = JobSpec(name=f"{job_prefix}tx", schedule="0 3 * * *", command="BEGIN; SELECT 1; COMMIT;")
    if mode == "bgw":
        with pytest.raises(UnsupportedCommand, match="transaction control"):
            client.schedule(spec)
    else:
        assert client.schedule(spec).command == spec.command


def test_connect_with_a_connection_leaves_it_open(pgcron_both_modes_dsn: str, job_prefix: str) -> None:
    with psycopg.connect(pgcron_both_modes_dsn) as conn:  # not autocommit: the client commits its own work
        with Client.connect(conn) as client:
            job = client.schedule(JobSpec(name=f"{job_prefix}conn", schedule="0 3 * * *", command="SELECT 1"))
        assert not conn.closed
        with psycopg.connect(pgcron_both_modes_dsn, autocommit=True) as other:
            row = other.execute("SELECT jobname FROM cron.job WHERE jobid = %s", (job.jobid,)).fetchone()
        assert row == (f"{job_prefix}conn",)


def test_connect_with_a_pool(pgcron_both_modes_dsn: str, job_prefix: str) -> None:
    with ConnectionPool(pgcron_both_modes_dsn, min_size=1, max_size=2, open=True) as pool:
        with Client.connect(pool) as client:
            job = client.schedule(JobSpec(name=f"{job_prefix}pool", schedule="0 3 * * *", command="SELECT 1"))
            assert client.job(job.jobid).name == f"{job_prefix}pool"
        assert not pool.closed


async def test_async_client_same_operations(pgcron_both_modes_dsn: str, job_prefix: str, mode: str) -> None:
    async with await AsyncClient.connect(pgcron_both_modes_dsn) as client:
        caps = await client.capabilities()
        assert caps.execution_mode == mode
        job = await client.schedule(
            JobSpec(name=f"{job_prefix}async", schedule="0 3 * * *", command="SELECT 1")
        )
        assert (await client.job(f"{job_prefix}async")).jobid == job.jobid
        assert (await client.alter(job.jobid, active=False)).active is False
        await client.unschedule(job.jobid)
        with pytest.raises(JobNotFound):
            await client.job(job.jobid)


async def test_async_client_over_a_pool(pgcron_both_modes_dsn: str, job_prefix: str) -> None:
    async with AsyncConnectionPool(pgcron_both_modes_dsn, min_size=1, max_size=2, open=False) as pool:
        client = await AsyncClient.connect(pool)
        job = await client.schedule(
            JobSpec(name=f"{job_prefix}apool", schedule="0 3 * * *", command="SELECT 1")
        )
        assert job in await client.jobs()
        await client.close()
        assert not pool.closed


async def test_concurrent_tasks_on_one_connection_do_not_interleave(pgcron_dsn: str, job_prefix: str) -> None:
    import asyncio

    async with await AsyncClient.connect(pgcron_dsn) as client:
        specs = [
            JobSpec(name=f"{job_prefix}c{i}", schedule="0 3 * * *", command=f"SELECT {i}") for i in range(8)
        ]
        jobs = await asyncio.gather(*(client.schedule(s) for s in specs), client.jobs(), client.runs(limit=5))
        scheduled = jobs[: len(specs)]
        assert len({j.jobid for j in scheduled}) == len(specs)  # type: ignore[union-attr]
        assert [j.command for j in scheduled] == [s.command for s in specs]  # type: ignore[union-attr]
