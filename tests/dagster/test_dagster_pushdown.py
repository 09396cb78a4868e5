"""Pushdown assets on real pg_cron: success, failure, and retries that re-attach instead of re-running."""

from __future__ import annotations

import uuid

import dagster as dg
import pgcron
import psycopg
import pytest
from conftest import count_rows, insert_command
from dagster_pgcron import PgCronResource, pgcron_asset

pytestmark = pytest.mark.integration


def _meta(event_metadata: dict, key: str) -> object:
    return event_metadata[f"dagster-pgcron/{key}"].value


def _materializations(result: dg.ExecuteInProcessResult) -> list[dict]:
    return [
        e.step_materialization_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    ]


def _failures(result: dg.ExecuteInProcessResult) -> list:
    return [
        e.step_failure_data.user_failure_data
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE" and e.step_failure_data.user_failure_data is not None
    ]


def _insert(table: str, n: int = 3) -> str:
    return insert_command(table, n)


def _job(asset: dg.AssetsDefinition, dsn: str, **resource: object) -> dg.JobDefinition:
    defs = dg.Definitions(assets=[asset], resources={"pg_cron": PgCronResource(dsn=dsn, **resource)})
    return defs.resolve_implicit_global_asset_job_def()


def test_materialize_success_reports_the_real_run(engine_dsn: str, scratch_table: str) -> None:
    asset = pgcron_asset(["dpt", "ok"], _insert(scratch_table), group_name="demo")
    result = dg.materialize(
        [asset],
        resources={"pg_cron": PgCronResource(dsn=engine_dsn)},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    (meta,) = _materializations(result)
    assert _meta(meta, "rows") == 3
    assert count_rows(engine_dsn, scratch_table) == 3
    with pgcron.Client.connect(engine_dsn) as client:
        run = client.run(int(_meta(meta, "runid")))
    assert run.status is pgcron.RunStatus.SUCCEEDED
    assert run.jobid == _meta(meta, "jobid")
    # the pushdown reports the statement's own outcome; the pg_cron row of the wrapper says CALL
    assert "3" in str(_meta(meta, "message"))
    assert run.duration is not None
    assert 0 < float(_meta(meta, "duration_s")) <= run.duration.total_seconds() + 0.5


def test_materialize_failure_raises_failure_with_run_metadata(engine_dsn: str) -> None:
    asset = pgcron_asset("dpt_bad", "SELECT 1/0")
    result = dg.materialize(
        [asset],
        resources={"pg_cron": PgCronResource(dsn=engine_dsn)},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    assert _materializations(result) == []
    (failure,) = _failures(result)
    assert "division by zero" in failure.description
    assert "division by zero" in str(failure.metadata["dagster-pgcron/message"].value)
    with pgcron.Client.connect(engine_dsn) as client:
        run = client.run(int(failure.metadata["dagster-pgcron/runid"].value))
    assert run.status is pgcron.RunStatus.FAILED


def test_run_retry_reattaches_and_manual_reexecution_reruns(engine_dsn: str, scratch_table: str) -> None:
    job = _job(pgcron_asset("dpt_once", _insert(scratch_table, 1)), engine_dsn)
    instance = dg.DagsterInstance.ephemeral()
    first_id = str(uuid.uuid4())
    first = job.execute_in_process(run_id=first_id, instance=instance)
    (m1,) = _materializations(first)
    assert count_rows(engine_dsn, scratch_table) == 1
    # automatic run retry (what the daemon launches): new run id, retry tags -> re-attach, no second insert
    retry = job.execute_in_process(
        run_id=str(uuid.uuid4()),
        instance=instance,
        tags={
            "dagster/retry_number": "1",
            "dagster/root_run_id": first_id,
            "dagster/parent_run_id": first_id,
        },
    )
    (m2,) = _materializations(retry)
    assert _meta(m2, "reattached") is True
    assert _meta(m2, "runid") == _meta(m1, "runid")
    assert count_rows(engine_dsn, scratch_table) == 1
    # manual re-execution: a new request, the SQL runs again
    manual = job.execute_in_process(
        run_id=str(uuid.uuid4()),
        instance=instance,
        tags={"dagster/root_run_id": first_id, "dagster/parent_run_id": first_id},
    )
    (m3,) = _materializations(manual)
    assert _meta(m3, "reattached") is False and _meta(m3, "runid") != _meta(m1, "runid")
    assert count_rows(engine_dsn, scratch_table) == 2


def test_retry_after_a_failed_attempt_submits_the_next_attempt(engine_dsn: str, job_prefix: str) -> None:
    table = f"{job_prefix}late"
    job = _job(pgcron_asset("dpt_late", _insert(table, 2)), engine_dsn)
    instance = dg.DagsterInstance.ephemeral()
    first_id = str(uuid.uuid4())
    try:
        first = job.execute_in_process(run_id=first_id, instance=instance, raise_on_error=False)
        assert not first.success  # the table does not exist yet
        with psycopg.connect(engine_dsn, autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("CREATE TABLE {} (n int)").format(psycopg.sql.Identifier(table)))
        retry = job.execute_in_process(
            run_id=str(uuid.uuid4()),
            instance=instance,
            tags={"dagster/retry_number": "1", "dagster/root_run_id": first_id},
        )
        (meta,) = _materializations(retry)
        assert _meta(meta, "attempt") == 2 and _meta(meta, "key").endswith("#2")
        assert count_rows(engine_dsn, table) == 2
    finally:
        with psycopg.connect(engine_dsn, autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("DROP TABLE IF EXISTS {}").format(psycopg.sql.Identifier(table)))


def test_step_retry_reattaches_to_the_running_submission(engine_dsn: str, scratch_table: str) -> None:
    # The first attempt stops waiting after 1 s (Failure, retries allowed); the step retry, same run id,
    # re-attaches to the still-running submission instead of inserting again.
    asset = pgcron_asset(
        "dpt_slow",
        f"SELECT pg_sleep(3); {_insert(scratch_table, 1)}",
        retry_policy=dg.RetryPolicy(max_retries=10),  # 1 s waits: ample for a 3 s run
    )
    result = _job(asset, engine_dsn, wait_timeout_seconds=1.0).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert result.success
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) >= 1
    (meta,) = _materializations(result)
    assert _meta(meta, "reattached") is True and _meta(meta, "attempt") == 1
    assert count_rows(engine_dsn, scratch_table) == 1
