"""``PgCronJobsComponent``: a jobs file (the core's schema) as Dagster definitions.

From one namespace of declared jobs it builds: one observed asset per job (``DagsterPgCronTranslator``),
the checks and the run sensor that report what pg_cron does with them, the resource, and an explicit
Dagster job, ``pg_cron_apply_<namespace>``, that plans and applies the jobs with the core (``pgcron.plan``).
Loading definitions never touches ``cron.job``: code servers reload all the time, so changing the server
is always a run someone launched.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from pgcron.jobsfile import JobsFile, load_jobs_file, parse_jobs_document, qualified_name
from pgcron.plan import desired_specs
from pydantic import Field

from dagster_pgcron.resource import PgCronResource
from dagster_pgcron.sensor import SensorSettings, build_pgcron_job_checks, build_pgcron_run_sensor
from dagster_pgcron.translator import DagsterPgCronTranslator

__all__ = ["PgCronJobsComponent", "build_apply_job", "observed_specs"]

logger = logging.getLogger(__name__)


def _ident(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or "jobs"


def observed_specs(
    jobs_file: JobsFile, translator: DagsterPgCronTranslator | None = None
) -> list[dg.AssetSpec]:
    """One ``AssetSpec`` per declared job (its retention job included), keyed by its pg_cron name."""
    translator = translator or DagsterPgCronTranslator()
    return [
        translator.get_asset_spec(
            dataclasses.replace(spec, name=qualified_name(jobs_file.namespace, spec.name))
        )
        for spec in desired_specs(jobs_file)
    ]


#: Run config of the apply job (a plain schema: string annotations from ``__future__`` hide dg.Config types).
APPLY_CONFIG = {
    "dry_run": dg.Field(
        bool, default_value=False, description="Only compute and log the plan; change nothing."
    ),
    "prune": dg.Field(
        bool,
        is_required=False,
        description="Also delete jobs of this namespace that the file no longer declares "
        "(default: the component's prune setting).",
    ),
}


def build_apply_job(
    jobs_file: JobsFile, *, resource_key: str = "pg_cron", name: str | None = None, prune: bool = False
) -> dg.JobDefinition:
    """A Dagster job that plans the file's jobs against the server and applies the plan (``pgcron.plan``)."""
    namespace = jobs_file.namespace
    specs = desired_specs(jobs_file)
    job_name = name or f"pg_cron_apply_{_ident(namespace)}"

    @dg.op(
        name=f"{job_name}_op",
        required_resource_keys={resource_key},
        description=f"Plan and apply the {len(specs)} declared job(s) of pg_cron namespace {namespace!r}.",
        tags={"kind": "postgres"},
        config_schema=APPLY_CONFIG,
    )
    def apply_jobs(context) -> dg.Output[None]:  # type: ignore[no-untyped-def]
        resource: PgCronResource = getattr(context.resources, resource_key)
        dry_run = bool(context.op_config["dry_run"])
        prune_now = bool(context.op_config.get("prune", prune))
        with resource.get_client() as client:
            plan = client.plan(
                specs, namespace=namespace, prune=prune_now, lane_workers=jobs_file.lane_workers
            )
            summary = plan.summary()
            context.log.info("plan for namespace %s: %s", namespace, summary)
            for change in plan.changes:
                context.log.info("  %s %s", change.action.value, change.name)
            meta: dict[str, Any] = {f"plan/{k}": v for k, v in summary.items()}
            meta["drift"] = len(plan.drifted)
            if dry_run or not plan.pending:
                meta["applied"] = False
                return dg.Output(None, metadata=meta)
            result = client.apply(plan)
        meta.update(
            applied=True,
            created=", ".join(result.created),
            updated=", ".join(result.updated),
            deleted=", ".join(result.deleted),
            jobids=dg.MetadataValue.json(dict(result.jobids)),
        )
        return dg.Output(None, metadata=meta)

    @dg.job(name=job_name, description=f"Make pg_cron's jobs in namespace {namespace!r} match the jobs file.")
    def _apply() -> None:
        apply_jobs()

    return _apply


class PgCronJobsComponent(dg.Component, dg.Model, dg.Resolvable):
    """pg_cron jobs declared as code, observed in Dagster.

    Give either ``jobs_file`` (a ``.toml``/``.yaml`` jobs file, relative to this component's folder) or
    ``jobs`` (the same document inline: ``namespace``, ``defaults``, ``jobs``, ``retention``).
    """

    jobs_file: str | None = Field(default=None, description="Path of a jobs file, relative to this folder.")
    jobs: dict[str, Any] | None = Field(default=None, description="A jobs-file document, inline.")
    dsn_env_var: str = Field(default="PGCRON_DSN", description="Environment variable holding the DSN.")
    resource_key: str = Field(default="pg_cron", description="Resource key of the PgCronResource.")
    key_prefix: Sequence[str] = Field(default=("pg_cron",), description="Asset key prefix.")
    group_name: str | None = Field(default="pg_cron", description="Asset group of the jobs.")
    owners: Sequence[str] = Field(default=(), description="Owners of every job asset (team:x or emails).")
    prune: bool = Field(default=False, description="The apply job deletes undeclared jobs of the namespace.")
    sensor_interval_seconds: int = Field(default=30, description="Minimum interval of the run sensor.")
    sensor_running: bool = Field(default=False, description="Start the run sensor by default.")
    audit_interval_seconds: float | None = Field(
        default=600, description="How often the sensor audits fire times (None: never)."
    )

    def load_jobs(self, base_dir: Path) -> JobsFile:
        """The validated jobs file (raises ``pgcron.jobsfile.JobsFileError`` listing every problem)."""
        if (self.jobs_file is None) == (self.jobs is None):
            raise dg.DagsterInvalidDefinitionError(
                "PgCronJobsComponent needs exactly one of 'jobs_file' (a path) or 'jobs' "
                "(the document inline)"
            )
        if self.jobs_file is not None:
            return load_jobs_file(base_dir / self.jobs_file)
        return parse_jobs_document(
            yaml.safe_dump(self.jobs),
            fmt="yaml",
            path=str(base_dir / "defs.yaml") + "#jobs",
            base_dir=base_dir,
        )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return self.build_defs_at(Path(context.path))

    def build_defs_at(self, base_dir: Path) -> dg.Definitions:
        jobs_file = self.load_jobs(base_dir)
        translator = DagsterPgCronTranslator(
            key_prefix=self.key_prefix, group_name=self.group_name, owners=self.owners
        )
        specs = observed_specs(jobs_file, translator)
        ns = _ident(jobs_file.namespace)
        audit = None if self.audit_interval_seconds is None else self.audit_interval_seconds
        from datetime import timedelta

        settings = SensorSettings(audit_interval=None if audit is None else timedelta(seconds=audit))
        return dg.Definitions(
            assets=specs,
            asset_checks=[
                build_pgcron_job_checks(
                    specs=specs, resource_key=self.resource_key, name=f"pg_cron_checks_{ns}"
                )
            ],
            sensors=[
                build_pgcron_run_sensor(
                    specs=specs,
                    name=f"pg_cron_runs_{ns}",
                    resource_key=self.resource_key,
                    minimum_interval_seconds=self.sensor_interval_seconds,
                    default_status=dg.DefaultSensorStatus.RUNNING
                    if self.sensor_running
                    else dg.DefaultSensorStatus.STOPPED,
                    settings=settings,
                )
            ],
            jobs=[build_apply_job(jobs_file, resource_key=self.resource_key, prune=self.prune)],
            resources={self.resource_key: PgCronResource(dsn=dg.EnvVar(self.dsn_env_var))},
        )
