"""The run sensor against real pg_cron: runs pg_cron made on its own schedule become Dagster asset events."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pgcron
import pytest
from conftest import insert_command
from dagster_pgcron import (
    DagsterPgCronTranslator,
    PgCronResource,
    SensorSettings,
    build_pgcron_job_checks,
    build_pgcron_run_sensor,
)

from tests.helpers import wait_until

pytestmark = pytest.mark.integration


def terminal_runs(client: pgcron.Client, name: str) -> list[pgcron.Run]:
    return [r for r in client.runs(job=name, limit=50) if r.status.is_terminal]


def check_record(instance: dg.DagsterInstance, key: dg.AssetKey, name: str):
    check_key = dg.AssetCheckKey(key, name)
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key([check_key])
    return records.get(check_key)


def test_sensor_reports_pg_cron_runs(pgcron_dsn: str, job_prefix: str, scratch_table: str) -> None:
    ok, bad, slow = f"{job_prefix}ok", f"{job_prefix}bad", f"{job_prefix}slow"
    with pgcron.Client.connect(pgcron_dsn) as client:
        client.schedule(pgcron.JobSpec(ok, "1 seconds", insert_command(scratch_table)))
        client.schedule(pgcron.JobSpec(bad, "1 seconds", "SELECT 1/0"))
        # runs take 3 s on a 1 s interval: pg_cron skips the fire times that fall inside a run
        client.schedule(pgcron.JobSpec(slow, "1 seconds", "SELECT pg_sleep(3)"))
        wait_until(
            lambda: (
                len(terminal_runs(client, ok)) >= 2
                and len(terminal_runs(client, bad)) >= 2
                and len(terminal_runs(client, slow)) >= 2
            ),
            40,
            "runs of all three jobs",
        )
        specs = [DagsterPgCronTranslator().get_asset_spec(client.job(n)) for n in (ok, bad, slow)]
    keys = {s.metadata["dagster-pgcron/job_name"]: s.key for s in specs}
    settings = SensorSettings(
        lookback=timedelta(minutes=5),
        settle=timedelta(seconds=1),
        audit_interval=timedelta(0),
        audit_window=timedelta(minutes=5),
        audit_late_after=timedelta(seconds=1),
    )
    sensor = build_pgcron_run_sensor(specs=specs, name="runs", settings=settings)
    resources = {"pg_cron": PgCronResource(dsn=pgcron_dsn)}
    defs = dg.Definitions(
        assets=specs,
        asset_checks=[build_pgcron_job_checks(specs=specs)],
        sensors=[sensor],
        resources=resources,
    )
    dg.Definitions.validate_loadable(defs)
    instance = dg.DagsterInstance.ephemeral()

    def tick(cursor: str | None) -> tuple[dg.SensorResult, str | None]:
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources, definitions=defs)
        result = sensor(ctx)
        assert isinstance(result, dg.SensorResult)
        for event in result.asset_events:  # what the sensor daemon does with them
            instance.report_runless_asset_event(event)
        return result, result.cursor

    first, cursor = tick(None)
    reported1 = {
        e.metadata["dagster-pgcron/runid"].value: e
        for e in first.asset_events
        if isinstance(e, (dg.AssetMaterialization, dg.AssetObservation))
    }
    assert reported1, "the first tick reported no run"

    with pgcron.Client.connect(pgcron_dsn) as client:
        # every reported event is a real run of that job, with the engine's verdict
        for runid, event in reported1.items():
            run = client.run(int(runid))
            name = event.metadata["dagster-pgcron/job_name"].value
            assert event.asset_key == keys[name]
            assert client.job(name).jobid == run.jobid
            assert isinstance(event, dg.AssetMaterialization) == (run.status is pgcron.RunStatus.SUCCEEDED)

    latest = instance.get_latest_materialization_event(keys[ok])
    assert latest is not None
    assert latest.asset_materialization.metadata["dagster-pgcron/job_name"].value == ok
    failed = check_record(instance, keys[bad], "pg_cron_run_succeeded")
    assert failed is not None and failed.event.asset_check_evaluation.passed is False
    assert "division by zero" in failed.event.asset_check_evaluation.metadata["dagster-pgcron/message"].value
    passed = check_record(instance, keys[ok], "pg_cron_run_succeeded")
    assert passed is not None and passed.event.asset_check_evaluation.passed is True
    on_time = check_record(instance, keys[slow], "pg_cron_on_schedule")
    assert on_time is not None and on_time.event.asset_check_evaluation.passed is False
    assert on_time.event.asset_check_evaluation.metadata["dagster-pgcron/missed"].value > 0

    # more runs happen; the next tick reports only new ones, never one twice
    with pgcron.Client.connect(pgcron_dsn) as client:
        newest = max(reported1)
        wait_until(lambda: any(r.runid > newest for r in terminal_runs(client, ok)), 20, "a newer run")
    second, cursor2 = tick(cursor)
    reported2 = {
        e.metadata["dagster-pgcron/runid"].value
        for e in second.asset_events
        if isinstance(e, (dg.AssetMaterialization, dg.AssetObservation))
    }
    assert reported2 and not (reported2 & set(reported1))
    assert cursor2 != cursor

    # the check can also be executed on demand: the latest run of the failing job failed
    job = dg.define_asset_job("checks_only", selection=dg.AssetSelection.checks_for_assets(keys[bad]))
    run = (
        dg.Definitions(
            assets=specs, asset_checks=[build_pgcron_job_checks(specs=specs)], jobs=[job], resources=resources
        )
        .resolve_job_def("checks_only")
        .execute_in_process(instance=instance, raise_on_error=False)
    )
    evals = {e.check_name: e.passed for e in run.get_asset_check_evaluations()}
    assert evals.get("pg_cron_run_succeeded") is False
