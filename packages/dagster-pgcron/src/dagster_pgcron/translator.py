"""``DagsterPgCronTranslator``: how a pg_cron job becomes a Dagster ``AssetSpec``.

Follows the 0.29 integration convention: one overridable ``get_asset_spec(job)``; subclass it and call
``super().get_asset_spec(job).replace_attributes(...)`` to change keys, groups or owners. Specs carry
namespaced metadata (``dagster-pgcron/...``) so the sensor, the checks and the pushdown body can map an
asset back to its pg_cron job or SQL without a side table. The schedule's English description comes from
the core schedule engine; nothing here re-reads pg_cron's rules.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import dagster as dg
import pgcron
from pgcron.jobsfile import NAMESPACE_SEPARATOR

__all__ = [
    "CHECK_ON_SCHEDULE",
    "CHECK_RUN_SUCCEEDED",
    "META_COMMAND",
    "META_DATABASE",
    "META_JOB_NAME",
    "META_SCHEDULE",
    "META_SCHEDULE_DESCRIPTION",
    "META_SQL",
    "META_TIMEOUT",
    "META_USERNAME",
    "DagsterPgCronTranslator",
    "check_specs_for",
    "job_name_of",
]

logger = logging.getLogger(__name__)

PREFIX = "dagster-pgcron/"
META_JOB_NAME = PREFIX + "job_name"
META_JOBID = PREFIX + "jobid"
META_SCHEDULE = PREFIX + "schedule"
META_SCHEDULE_DESCRIPTION = PREFIX + "schedule_description"
META_COMMAND = PREFIX + "command"
META_DATABASE = PREFIX + "database"
META_USERNAME = PREFIX + "username"
META_ACTIVE = PREFIX + "active"
META_TIMEOUT = PREFIX + "timeout_seconds"
#: The SQL a pushdown asset runs when materialized (plain text, so the body can read it back).
META_SQL = PREFIX + "sql"

#: Asset checks of an observed job: its latest run succeeded; it ran on every fire time (the audit).
CHECK_RUN_SUCCEEDED = "pg_cron_run_succeeded"
CHECK_ON_SCHEDULE = "pg_cron_on_schedule"

_KEY_PART = re.compile(r"[^A-Za-z0-9_]+")
_TAG_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")


def _key_part(text: str) -> str:
    part = _KEY_PART.sub("_", text).strip("_")
    return part or "_"


def job_name_of(spec: dg.AssetSpec) -> str | None:
    """The pg_cron job name an observed asset spec stands for (None for other specs)."""
    value = spec.metadata.get(META_JOB_NAME)
    if value is None:
        return None
    return str(getattr(value, "value", value))


def check_specs_for(spec: dg.AssetSpec, *, on_schedule: bool = True) -> list[dg.AssetCheckSpec]:
    """The checks the sensor reports for an observed job's asset."""
    checks = [
        dg.AssetCheckSpec(
            CHECK_RUN_SUCCEEDED,
            asset=spec.key,
            description="The latest pg_cron run of this job succeeded (reported by the pg_cron run sensor).",
        )
    ]
    if on_schedule:
        checks.append(
            dg.AssetCheckSpec(
                CHECK_ON_SCHEDULE,
                asset=spec.key,
                description="pg_cron ran this job at every fire time of its schedule (the pgcron audit).",
            )
        )
    return checks


class DagsterPgCronTranslator:
    """Maps pg_cron jobs (``pgcron.Job`` rows or declared ``pgcron.JobSpec``s) to ``AssetSpec``s.

    ``group_name`` and ``owners`` apply to every spec; ``key_prefix`` starts every key (default
    ``["pg_cron"]``). A namespaced name ``nightly:rollup`` becomes the key ``pg_cron/nightly/rollup``.
    """

    def __init__(
        self,
        *,
        key_prefix: Sequence[str] = ("pg_cron",),
        group_name: str | None = "pg_cron",
        owners: Sequence[str] = (),
    ) -> None:
        self.key_prefix = tuple(key_prefix)
        self.group_name = group_name
        self.owners = tuple(owners)

    # -- granular hooks -----------------------------------------------------------------------------------
    def get_asset_key(self, job: pgcron.Job | pgcron.JobSpec) -> dg.AssetKey:
        name = job.name or f"job_{getattr(job, 'jobid', 'unnamed')}"
        parts = [_key_part(p) for p in name.split(NAMESPACE_SEPARATOR)]
        return dg.AssetKey([*self.key_prefix, *parts])

    def get_description(self, job: pgcron.Job | pgcron.JobSpec) -> str:
        own = getattr(job, "description", None)
        when = self.describe_schedule(job.schedule) or job.schedule
        head = own or f"pg_cron job {job.name!r}"
        return f"{head}\n\nRuns inside PostgreSQL on pg_cron's schedule `{job.schedule}` ({when})."

    def get_tags(self, job: pgcron.Job | pgcron.JobSpec) -> dict[str, str]:
        """Jobs-file tags: ``key:value`` becomes a tag with a value, a bare word a tag with an empty one."""
        tags: dict[str, str] = {}
        for raw in getattr(job, "tags", ()) or ():
            key, sep, value = raw.partition(":")
            if not sep:
                key, value = raw, ""
            key = key.replace("/", ".")
            if _TAG_KEY.match(key) and not key.startswith("dagster"):
                tags[key] = value
            else:
                logger.warning("job %s: tag %r is not a valid Dagster tag key; left out", job.name, raw)
        return tags

    def get_metadata(self, job: pgcron.Job | pgcron.JobSpec) -> dict[str, Any]:
        meta: dict[str, Any] = {
            META_JOB_NAME: job.name or "",
            META_SCHEDULE: job.schedule,
            META_SCHEDULE_DESCRIPTION: self.describe_schedule(job.schedule) or "",
            META_COMMAND: dg.MetadataValue.md(f"```sql\n{job.command}\n```"),
            META_ACTIVE: bool(job.active),
        }
        if job.database:
            meta[META_DATABASE] = job.database
        if job.username:
            meta[META_USERNAME] = job.username
        if isinstance(job, pgcron.Job):
            meta[META_JOBID] = job.jobid
        timeout: timedelta | None = getattr(job, "timeout", None)
        if timeout is not None:
            meta[META_TIMEOUT] = timeout.total_seconds()
        return meta

    def get_kinds(self, job: pgcron.Job | pgcron.JobSpec) -> set[str]:
        return {"postgres", "sql"}

    def get_group_name(self, job: pgcron.Job | pgcron.JobSpec) -> str | None:
        return self.group_name

    def get_owners(self, job: pgcron.Job | pgcron.JobSpec) -> list[str]:
        return list(self.owners)

    # -- the one entry point --------------------------------------------------------------------------------
    def get_asset_spec(self, job: pgcron.Job | pgcron.JobSpec) -> dg.AssetSpec:
        """The ``AssetSpec`` for one recurring pg_cron job."""
        return dg.AssetSpec(
            key=self.get_asset_key(job),
            description=self.get_description(job),
            metadata=self.get_metadata(job),
            group_name=self.get_group_name(job),
            owners=self.get_owners(job),
            tags=self.get_tags(job),
            kinds=self.get_kinds(job),
        )

    def get_pushdown_asset_spec(
        self,
        key: dg.AssetKey | str | Sequence[str],
        sql: str,
        *,
        database: str | None = None,
        username: str | None = None,
        timeout: float | None = None,
        **attributes: Any,
    ) -> dg.AssetSpec:
        """An ``AssetSpec`` whose materialization runs ``sql`` inside PostgreSQL through the pushdown.

        ``attributes`` are any other ``AssetSpec`` fields (``deps``, ``description``, ``owners``...).
        """
        if not isinstance(sql, str) or not sql.strip():
            raise pgcron.UnsupportedCommand(f"asset {key!r}: the SQL to push down is empty; give a statement")
        metadata: dict[str, Any] = dict(attributes.pop("metadata", {}) or {})
        metadata[META_SQL] = sql
        if database:
            metadata[META_DATABASE] = database
        if username:
            metadata[META_USERNAME] = username
        if timeout is not None:
            metadata[META_TIMEOUT] = float(timeout)
        asset_key = (
            dg.AssetKey.from_user_string(key) if isinstance(key, str) else dg.AssetKey.from_coercible(key)
        )
        kinds = set(attributes.pop("kinds", None) or {"postgres", "sql"})
        attributes.setdefault("group_name", self.group_name)
        if self.owners and "owners" not in attributes:
            attributes["owners"] = list(self.owners)
        return dg.AssetSpec(key=asset_key, metadata=metadata, kinds=kinds, **attributes)

    @staticmethod
    def describe_schedule(schedule: str) -> str | None:
        """English for a pg_cron schedule, from the core schedule engine (None if it cannot parse it)."""
        try:
            return pgcron.Schedule.parse(schedule, strict=False).describe()
        except pgcron.PgCronError as exc:
            logger.debug("schedule %r not described: %s", schedule, exc)
            return None


def _meta_str(metadata: Mapping[str, Any], key: str) -> str | None:
    value = metadata.get(key)
    if value is None:
        return None
    return str(getattr(value, "value", value))
