"""Materializing a pushdown asset: run its SQL inside PostgreSQL through the core pushdown, once.

Idempotency (docs/dagster.md, "Retries"): each materialization submits under a key built from the
*lineage* of the Dagster run and the asset key (plus the partition key):

* a step retry (``RetryPolicy``, ``RetryRequested``, a retried ``Failure``) keeps the run id;
* an automatic run retry (the daemon's ``dagster/max_retries``) gets a new run id but carries
  ``dagster/retry_number`` and ``dagster/root_run_id``: the lineage is the root run id;
* a manual re-execution also has a root run id but no ``dagster/retry_number``: it is a new request
  and runs the SQL again.

Within a lineage the core's attempt chain decides (``Client.submit_attempt``, ``pgcron.pushdown.attempts``):
a succeeded or still-running attempt is followed, never re-submitted; a failed or canceled attempt (nothing
committed) is retried under the next attempt key (``<key>#2``, ...); a lost attempt (the server restarted
mid-run, outcome unknown) fails here without retry so a person decides. This module only translates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pgcron

from dagster_pgcron.translator import META_DATABASE, META_SQL, META_TIMEOUT, META_USERNAME

__all__ = ["PushdownOutcome", "idempotency_key", "metadata_for_run", "run_pushdown"]

logger = logging.getLogger(__name__)

RETRY_NUMBER_TAG = "dagster/retry_number"
ROOT_RUN_ID_TAG = "dagster/root_run_id"


def _meta(metadata: Mapping[str, Any], key: str) -> Any:
    value = metadata.get(key)
    return getattr(value, "value", value)


def lineage_run_id(run_id: str, tags: Mapping[str, str]) -> str:
    """The run id that stays the same across retries of one Dagster run (see the module docstring)."""
    if tags.get(RETRY_NUMBER_TAG) is not None and tags.get(ROOT_RUN_ID_TAG):
        return tags[ROOT_RUN_ID_TAG]
    return run_id


def idempotency_key(
    run_id: str, tags: Mapping[str, str], asset_key: dg.AssetKey, partition_key: str | None = None
) -> str:
    """The pushdown key of one asset materialization in one Dagster run lineage."""
    key = f"dagster:{lineage_run_id(run_id, tags)}:{asset_key.to_user_string()}"
    if partition_key is not None:
        key += f":{partition_key}"
    return key


def metadata_for_run(run: pgcron.Run, *, key: str | None = None) -> dict[str, Any]:
    """Dagster metadata of a pg_cron run (materializations, failures, observations)."""
    meta: dict[str, Any] = {
        "dagster-pgcron/runid": run.runid,
        "dagster-pgcron/status": run.status.value,
    }
    if run.jobid is not None:
        meta["dagster-pgcron/jobid"] = run.jobid
    if run.duration is not None:
        meta["dagster-pgcron/duration_s"] = round(run.duration.total_seconds(), 6)
    if run.message is not None:
        meta["dagster-pgcron/message"] = run.message
    if run.rows is not None:
        meta["dagster-pgcron/rows"] = run.rows
    if run.start_time is not None:
        meta["dagster-pgcron/start_time"] = dg.MetadataValue.timestamp(run.start_time)
    if run.end_time is not None:
        meta["dagster-pgcron/end_time"] = dg.MetadataValue.timestamp(run.end_time)
    if key is not None:
        meta["dagster-pgcron/key"] = key
    return meta


@dataclass(frozen=True, slots=True)
class PushdownOutcome:
    """What one materialization did: the terminal run, its key, and whether it re-attached."""

    run: pgcron.Run
    key: str
    attempt: int
    reattached: bool

    @property
    def metadata(self) -> dict[str, Any]:
        meta = metadata_for_run(self.run, key=self.key)
        meta["dagster-pgcron/attempt"] = self.attempt
        meta["dagster-pgcron/reattached"] = self.reattached
        return meta


def run_pushdown(
    client: pgcron.ClientProtocol,
    *,
    sql: str,
    base_key: str,
    database: str | None = None,
    username: str | None = None,
    timeout: float | None = None,
    wait_timeout: float | None = None,
) -> PushdownOutcome:
    """Re-attach to the latest attempt under ``base_key`` or submit a new one, and wait for it to end."""
    try:
        attempt = client.submit_attempt(
            sql, key=base_key, database=database, username=username, timeout=timeout
        )
    except pgcron.TooManyAttempts as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    handle, key = attempt.handle, attempt.key
    if attempt.reattached:
        logger.info("re-attached to pushdown %s (%s)", key, handle.status.value)
    if handle.status is pgcron.RunStatus.LOST:
        run = client.wait(handle)
        raise dg.Failure(
            description=(
                f"pushdown attempt {key!r} was lost (the server or pg_cron restarted mid-run), so whether "
                "its SQL committed is unknown. Check the data, then re-execute the run (a manual "
                "re-execution submits afresh)."
            ),
            metadata=metadata_for_run(run, key=key),
            allow_retries=False,
        )
    try:
        run = client.wait(handle, timeout=wait_timeout)
    except pgcron.RunTimeout as exc:
        raise dg.Failure(
            description=f"{exc} A retry of this step or run re-attaches to it.",
            metadata={"dagster-pgcron/key": key},
            allow_retries=True,
        ) from exc
    return PushdownOutcome(run=run, key=key, attempt=attempt.number, reattached=attempt.reattached)


def _topological(keys: Sequence[dg.AssetKey], specs: Mapping[dg.AssetKey, dg.AssetSpec]) -> list[dg.AssetKey]:
    """Selected keys ordered so an asset comes after the selected assets it depends on."""
    selected = set(keys)
    ordered: list[dg.AssetKey] = []
    seen: set[dg.AssetKey] = set()

    def visit(key: dg.AssetKey, stack: tuple[dg.AssetKey, ...]) -> None:
        if key in seen:
            return
        if key in stack:
            raise dg.DagsterInvariantViolationError(f"dependency cycle through {key.to_user_string()}")
        for dep in specs[key].deps:
            if dep.asset_key in selected:
                visit(dep.asset_key, (*stack, key))
        seen.add(key)
        ordered.append(key)

    for key in sorted(keys, key=lambda k: k.to_user_string()):
        visit(key, ())
    return ordered


def materialize_selected(
    context: dg.AssetExecutionContext,
    client: pgcron.ClientProtocol,
    *,
    run_timeout: float | None = None,
    wait_timeout: float | None = None,
) -> Iterator[dg.MaterializeResult[Any]]:
    """Run the SQL of every selected pushdown asset (dependencies first) and yield its result.

    The first failed run stops the step with ``dg.Failure`` carrying that run's metadata; assets already
    materialized keep their results (a retry re-attaches to them instead of running them again).
    """
    specs = {spec.key: spec for spec in context.assets_def.specs}
    partition = context.partition_key if context.has_partition_key else None
    tags = dict(context.run.tags)
    for asset_key in _topological(list(context.selected_asset_keys), specs):
        spec = specs[asset_key]
        sql = _meta(spec.metadata, META_SQL)
        if not sql:
            raise dg.Failure(
                description=(
                    f"asset {asset_key.to_user_string()} has no SQL to push down: build its spec with "
                    "DagsterPgCronTranslator.get_pushdown_asset_spec(key, sql) or pgcron_asset(key, sql)"
                ),
                allow_retries=False,
            )
        timeout = _meta(spec.metadata, META_TIMEOUT)
        base = idempotency_key(context.run.run_id, tags, asset_key, partition)
        outcome = run_pushdown(
            client,
            sql=str(sql),
            base_key=base,
            database=_meta(spec.metadata, META_DATABASE),
            username=_meta(spec.metadata, META_USERNAME),
            timeout=float(timeout) if timeout is not None else run_timeout,
            wait_timeout=wait_timeout,
        )
        run = outcome.run
        if run.status is not pgcron.RunStatus.SUCCEEDED:
            raise dg.Failure(
                description=(
                    f"pg_cron run {run.runid} of asset {asset_key.to_user_string()} {run.status.value}: "
                    f"{run.message or 'no message'}"
                ),
                metadata=outcome.metadata,
                allow_retries=run.status is not pgcron.RunStatus.LOST,
            )
        context.log.info(
            "asset %s: pg_cron run %s succeeded in %s (%s)",
            asset_key.to_user_string(),
            run.runid,
            run.duration,
            run.message,
        )
        yield dg.MaterializeResult(asset_key=asset_key, metadata=outcome.metadata)
