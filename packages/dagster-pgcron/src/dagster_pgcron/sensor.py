"""``build_pgcron_run_sensor``: runs pg_cron made on its own schedule, reported to Dagster as asset events.

Per terminal run of a watched job, once, on the first tick after it finished (the core's
``pgcron.runfeed.RunCursor`` decides which runs are new, also when they end out of runid order;
``dagster_pgcron.cursor`` wraps it in the sensor's cursor string):

* succeeded -> a runless ``AssetMaterialization`` with the run's metadata, and a passed
  ``pg_cron_run_succeeded`` check;
* failed / canceled / lost -> an ``AssetObservation`` carrying the error, and a failed
  ``pg_cron_run_succeeded`` check (severity ERROR). Dagster OSS has no public way to record a *failed*
  materialization from outside a run, so the check is what turns the asset red.

Every ``audit_interval`` the core audit (``pgcron.audit``) compares fire times with runs; a job with missed
fire times gets a failed ``pg_cron_on_schedule`` check, the others a passed one. Run statuses, messages and
fire times all come from the core; this module only translates them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import dagster as dg
import pgcron
from pgcron import runfeed
from pgcron.audit import AuditReport, FindingKind
from pgcron.runfeed import RunCursor

from dagster_pgcron.cursor import SensorCursor
from dagster_pgcron.materialize import metadata_for_run
from dagster_pgcron.resource import PgCronResource
from dagster_pgcron.translator import CHECK_ON_SCHEDULE, CHECK_RUN_SUCCEEDED, job_name_of

__all__ = ["RunSource", "SensorSettings", "TickResult", "build_pgcron_run_sensor", "collect_events"]

logger = logging.getLogger(__name__)

AssetEvent = dg.AssetMaterialization | dg.AssetObservation | dg.AssetCheckEvaluation


class RunSource(Protocol):
    """What a tick reads. ``ClientRunSource`` is the real one; unit tests pass a fake."""

    def jobs(self) -> list[pgcron.Job]: ...

    def runs_after(self, after_runid: int, jobids: Sequence[int], limit: int) -> runfeed.FeedPage: ...

    def start_runid(self, before: datetime) -> int: ...

    def audit(self, since: timedelta, late_after: timedelta) -> AuditReport: ...


class ClientRunSource:
    """``RunSource`` over a pgcron client: the core's run feed and audit (a ``FakeClient`` in unit tests)."""

    def __init__(self, client: pgcron.ClientProtocol, job_prefix: str | None = None) -> None:
        self.client = client
        self.job_prefix = job_prefix or None  # the audit reads only jobs with this name prefix

    def jobs(self) -> list[pgcron.Job]:
        return self.client.jobs()

    def runs_after(self, after_runid: int, jobids: Sequence[int], limit: int) -> runfeed.FeedPage:
        return self.client.runs_after(after_runid, jobids=jobids, limit=limit)

    def start_runid(self, before: datetime) -> int:
        return self.client.start_runid(before)

    def audit(self, since: timedelta, late_after: timedelta) -> AuditReport:
        return self.client.audit(since, late_after=late_after, job_prefix=self.job_prefix)


@dataclass(frozen=True)
class SensorSettings:
    """Tunables of a tick (defaults suit a 30 s sensor)."""

    lookback: timedelta = timedelta(hours=1)  # where a sensor without a cursor starts
    settle: timedelta = runfeed.SETTLE  # the cursor closes the runids below a run this long after it ended
    page_size: int = 500
    max_runs_per_tick: int = 5_000
    time_budget: timedelta = timedelta(seconds=40)  # below Dagster's 60 s sensor gRPC timeout
    audit_interval: timedelta | None = timedelta(minutes=10)  # None: never audit
    audit_window: timedelta = timedelta(hours=24)  # the first audit looks this far back
    audit_late_after: timedelta = timedelta(seconds=60)  # fire times younger than this are not judged yet


@dataclass
class TickResult:
    events: list[AssetEvent] = field(default_factory=list)
    cursor: SensorCursor | None = None
    runs_read: int = 0
    reported: int = 0
    audited: bool = False
    skip_reason: str | None = None


def _job_metadata(name: str, run: pgcron.Run) -> dict[str, Any]:
    meta = metadata_for_run(run)
    meta["dagster-pgcron/job_name"] = name
    return meta


def _run_events(key: dg.AssetKey, name: str, run: pgcron.Run, with_checks: bool) -> list[AssetEvent]:
    meta = _job_metadata(name, run)
    events: list[AssetEvent] = []
    if run.status is pgcron.RunStatus.SUCCEEDED:
        events.append(
            dg.AssetMaterialization(
                asset_key=key,
                description=f"pg_cron run {run.runid} of {name} succeeded: {run.message or ''}".strip(),
                metadata=meta,
            )
        )
    else:
        events.append(
            dg.AssetObservation(
                asset_key=key,
                description=(
                    f"pg_cron run {run.runid} of {name} {run.status.value}: {run.message or 'no message'}"
                ),
                metadata=meta,
            )
        )
    if with_checks:
        events.append(
            dg.AssetCheckEvaluation(
                asset_key=key,
                check_name=CHECK_RUN_SUCCEEDED,
                passed=run.status is pgcron.RunStatus.SUCCEEDED,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata=meta,
                description=None
                if run.status is pgcron.RunStatus.SUCCEEDED
                else f"run {run.runid} {run.status.value}: {run.message or 'no message'}",
            )
        )
    return events


def on_schedule_evaluations(
    report: AuditReport,
    watched: Mapping[str, dg.AssetKey],
    jobids: Mapping[int, str],
    *,
    after: datetime | None,
) -> list[dg.AssetCheckEvaluation]:
    """One ``pg_cron_on_schedule`` evaluation per watched job in the report (failed: missed fire times)."""
    missed: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    late: dict[str, int] = {}
    for finding in report.findings:
        name = finding.job or jobids.get(finding.jobid)
        if name is None or name not in watched:
            continue
        if after is not None and finding.expected is not None and finding.expected <= after:
            continue  # judged by an earlier audit
        if finding.kind is FindingKind.MISSED:
            counts[name] = counts.get(name, 0) + finding.count
            missed.setdefault(name, []).append(finding.message)
        elif finding.kind in (FindingKind.LATE, FindingKind.QUEUED):
            late[name] = late.get(name, 0) + finding.count
    audited = {name for name in jobids.values() if name in watched}
    out: list[dg.AssetCheckEvaluation] = []
    for name in sorted(audited):
        n_missed = counts.get(name, 0)
        messages = missed.get(name, [])
        meta: dict[str, Any] = {
            "dagster-pgcron/job_name": name,
            "dagster-pgcron/missed": n_missed,
            "dagster-pgcron/late": late.get(name, 0),
            "dagster-pgcron/window_start": dg.MetadataValue.timestamp(report.since),
            "dagster-pgcron/window_end": dg.MetadataValue.timestamp(report.until),
            "dagster-pgcron/timezone": report.timezone,
        }
        if messages:
            meta["dagster-pgcron/missed_detail"] = "; ".join(messages[:20])
        out.append(
            dg.AssetCheckEvaluation(
                asset_key=watched[name],
                check_name=CHECK_ON_SCHEDULE,
                passed=n_missed == 0,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata=meta,
                description=(f"{n_missed} fire time(s) without a run" if n_missed else None),
            )
        )
    return out


def collect_events(
    source: RunSource,
    cursor: SensorCursor | None,
    watched: Mapping[str, dg.AssetKey],
    settings: SensorSettings = SensorSettings(),
    *,
    with_checks: bool = True,
    now: datetime | None = None,
) -> TickResult:
    """One tick: the asset events for runs not reported yet, and the next cursor."""
    started = time.monotonic()
    clock = now or datetime.now(UTC)
    result = TickResult()
    if cursor is None:
        cursor = SensorCursor(RunCursor(watermark=source.start_runid(clock - settings.lookback)))
        logger.info(
            "pg_cron sensor starts after runid %d (lookback %s)", cursor.runs.watermark, settings.lookback
        )
    for job in source.jobs():
        if job.name is not None and job.name in watched:
            cursor.jobs[job.jobid] = job.name
    result.cursor = cursor
    if not cursor.jobs:
        result.skip_reason = (
            f"none of the {len(watched)} watched pg_cron jobs exists yet (apply the jobs first): "
            + ", ".join(sorted(watched)[:5])
        )
        return result
    jobids = sorted(cursor.jobs)
    after = cursor.runs.watermark
    while True:
        page = source.runs_after(after, jobids, settings.page_size)
        settled_before = page.observed_at - settings.settle
        for run in cursor.runs.advance(page.runs, settled_before=settled_before, after=after):
            name = cursor.jobs.get(run.jobid) if run.jobid is not None else None
            if name is not None and name in watched:
                result.events.extend(_run_events(watched[name], name, run, with_checks))
                result.reported += 1
        result.runs_read += len(page.runs)
        if page.runs:
            after = page.runs[-1].runid
        if not page.full:
            break
        if result.runs_read >= settings.max_runs_per_tick:
            break
        if time.monotonic() - started > settings.time_budget.total_seconds():
            logger.warning(
                "pg_cron sensor: time budget spent after %d runs; continuing next tick", result.runs_read
            )
            break
    if settings.audit_interval is not None and (
        cursor.audited_until is None or clock - cursor.audited_until >= settings.audit_interval
    ):
        window = settings.audit_window
        if cursor.audited_until is not None:
            window = min(window, clock - cursor.audited_until + settings.audit_interval)
        report = source.audit(window, settings.audit_late_after)
        result.events.extend(
            on_schedule_evaluations(report, watched, cursor.jobs, after=cursor.audited_until)
            if with_checks
            else []
        )
        cursor.audited_until = report.until
        result.audited = True
    if not result.events:
        result.skip_reason = (
            f"no new finished pg_cron runs (read {result.runs_read}, watermark {cursor.runs.watermark})"
        )
    return result


def watched_jobs(specs: Sequence[dg.AssetSpec]) -> dict[str, dg.AssetKey]:
    """job name -> asset key, from specs made by ``DagsterPgCronTranslator.get_asset_spec``."""
    out: dict[str, dg.AssetKey] = {}
    for spec in specs:
        name = job_name_of(spec)
        if not name:
            raise pgcron.PgCronError(
                f"asset spec {spec.key.to_user_string()} names no pg_cron job: build it with "
                "DagsterPgCronTranslator().get_asset_spec(job)"
            )
        out[name] = spec.key
    return out


def build_pgcron_run_sensor(
    *,
    specs: Sequence[dg.AssetSpec],
    name: str = "pg_cron_run_sensor",
    resource_key: str = "pg_cron",
    minimum_interval_seconds: int = 30,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    settings: SensorSettings = SensorSettings(),
    with_checks: bool = True,
) -> dg.SensorDefinition:
    """A sensor reporting the runs of the pg_cron jobs behind ``specs`` as asset events.

    ``with_checks=False`` when the specs' checks (``build_pgcron_job_checks``) are not in the definitions.
    """
    watched = watched_jobs(specs)
    # character-wise on purpose: the longest common name prefix scopes the audit query
    prefix = os.path.commonprefix(sorted(watched))  # noqa: RUF071

    @dg.sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        required_resource_keys={resource_key},
        description=(
            f"Reports runs of {len(watched)} pg_cron job(s) as materializations, observations and checks."
        ),
    )
    def _sensor(context, **_direct: object) -> dg.SensorResult:  # type: ignore[no-untyped-def]
        # ``_direct``: a directly invoked sensor also receives its required resources as keyword arguments
        resource: PgCronResource = getattr(context.resources, resource_key)
        cursor = SensorCursor.parse(context.cursor)
        with resource.get_client() as client:
            tick = collect_events(
                ClientRunSource(client, prefix), cursor, watched, settings, with_checks=with_checks
            )
        assert tick.cursor is not None
        context.log.info(
            "read %d runs, reported %d, watermark %d%s",
            tick.runs_read,
            tick.reported,
            tick.cursor.runs.watermark,
            ", audited" if tick.audited else "",
        )
        if tick.events:
            return dg.SensorResult(asset_events=tick.events, cursor=tick.cursor.serialize())
        return dg.SensorResult(skip_reason=tick.skip_reason, cursor=tick.cursor.serialize())

    return _sensor


@contextmanager
def _client_for(context: Any, resource_key: str) -> Iterator[pgcron.ClientProtocol]:
    resource: PgCronResource = getattr(context.resources, resource_key)
    with resource.get_client() as client:
        yield client


def build_pgcron_job_checks(
    *, specs: Sequence[dg.AssetSpec], resource_key: str = "pg_cron", name: str = "pg_cron_job_checks"
) -> dg.AssetChecksDefinition:
    """The checks the sensor reports, also runnable on demand: latest run succeeded; no missed fire times."""
    watched = watched_jobs(specs)
    by_key = {key: job for job, key in watched.items()}
    check_specs = [
        dg.AssetCheckSpec(
            CHECK_RUN_SUCCEEDED,
            asset=key,
            description="The latest pg_cron run of this job succeeded.",
        )
        for key in by_key
    ] + [
        dg.AssetCheckSpec(
            CHECK_ON_SCHEDULE,
            asset=key,
            description="pg_cron ran this job at every fire time of its schedule over the last 24 hours.",
        )
        for key in by_key
    ]

    @dg.multi_asset_check(
        specs=check_specs, name=name, can_subset=True, required_resource_keys={resource_key}
    )
    def _checks(context) -> Iterator[dg.AssetCheckResult]:  # type: ignore[no-untyped-def]
        with _client_for(context, resource_key) as client:
            for check_key in sorted(
                context.selected_asset_check_keys, key=lambda k: (k.name, str(k.asset_key))
            ):
                job = by_key[check_key.asset_key]
                if check_key.name == CHECK_RUN_SUCCEEDED:
                    yield _latest_run_result(client, job, check_key.asset_key)
                else:
                    try:
                        report = client.audit(timedelta(hours=24), job=job)
                    except pgcron.PgCronError as exc:
                        yield dg.AssetCheckResult(
                            asset_key=check_key.asset_key,
                            check_name=CHECK_ON_SCHEDULE,
                            passed=False,
                            description=str(exc),
                        )
                        continue
                    ids = {j.jobid: j.name for j in client.jobs() if j.name == job}
                    evals = on_schedule_evaluations(report, {job: check_key.asset_key}, ids, after=None)
                    if not evals:
                        yield dg.AssetCheckResult(
                            asset_key=check_key.asset_key,
                            check_name=CHECK_ON_SCHEDULE,
                            passed=False,
                            description=f"pg_cron job {job!r} does not exist (apply the jobs first)",
                        )
                        continue
                    ev = evals[0]
                    yield dg.AssetCheckResult(
                        asset_key=ev.asset_key,
                        check_name=ev.check_name,
                        passed=ev.passed,
                        severity=ev.severity,
                        metadata=ev.metadata,
                        description=ev.description,
                    )

    return _checks


def _latest_run_result(client: pgcron.ClientProtocol, job: str, key: dg.AssetKey) -> dg.AssetCheckResult:
    try:
        runs = client.runs(
            job=job,
            status=[s for s in pgcron.RunStatus if s.is_terminal],
            limit=1,
        )
    except pgcron.JobNotFound:
        return dg.AssetCheckResult(
            asset_key=key,
            check_name=CHECK_RUN_SUCCEEDED,
            passed=False,
            description=f"pg_cron job {job!r} does not exist (apply the jobs first)",
        )
    if not runs:
        return dg.AssetCheckResult(
            asset_key=key,
            check_name=CHECK_RUN_SUCCEEDED,
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"pg_cron job {job!r} has not finished a run yet",
        )
    run = runs[0]
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=CHECK_RUN_SUCCEEDED,
        passed=run.status is pgcron.RunStatus.SUCCEEDED,
        metadata=_job_metadata(job, run),
        description=None
        if run.status is pgcron.RunStatus.SUCCEEDED
        else f"run {run.runid} {run.status.value}: {run.message or 'no message'}",
    )
