"""Unit tests: translator specs, idempotency keys, component YAML -> definitions (no database)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pgcron
import pytest
from dagster_pgcron import (
    DagsterPgCronTranslator,
    PgCronJobsComponent,
    idempotency_key,
    pgcron_asset,
    pgcron_assets,
)
from dagster_pgcron.materialize import lineage_run_id
from pgcron.jobsfile import JobsFileError


def test_translator_maps_a_job_to_a_spec() -> None:
    job = pgcron.JobSpec(
        name="sales:rollup",
        schedule="*/15 9-17 * * 1-5",
        command="CALL rollup()",
        description="Roll up sales",
        tags=("team:data", "nightly"),
    )
    spec = DagsterPgCronTranslator(owners=["team:data"]).get_asset_spec(job)
    assert spec.key == dg.AssetKey(["pg_cron", "sales", "rollup"])
    assert spec.kinds == {"postgres", "sql"}
    assert spec.group_name == "pg_cron"
    assert spec.owners == ["team:data"]
    assert spec.tags["team"] == "data" and spec.tags["nightly"] == ""
    assert spec.metadata["dagster-pgcron/schedule"] == "*/15 9-17 * * 1-5"
    # the English comes from the core schedule engine, not from this package
    assert (
        spec.metadata["dagster-pgcron/schedule_description"] == pgcron.Schedule.parse(job.schedule).describe()
    )
    assert "Roll up sales" in (spec.description or "")


def test_translator_subclass_overrides_the_key() -> None:
    class Mine(DagsterPgCronTranslator):
        def get_asset_spec(self, job: pgcron.Job | pgcron.JobSpec) -> dg.AssetSpec:
            return (
                super()
                .get_asset_spec(job)
                .replace_attributes(key=dg.AssetKey(["wh", job.name.split(":")[-1]]))
            )

    spec = Mine().get_asset_spec(pgcron.JobSpec("a:b", "@daily", "SELECT 1"))
    assert spec.key == dg.AssetKey(["wh", "b"])
    assert spec.metadata["dagster-pgcron/job_name"] == "a:b"


def test_live_job_row_carries_its_jobid() -> None:
    job = pgcron.Job(42, "nightly", "0 3 * * *", "VACUUM", "postgres", "postgres", True, "", 5432)
    spec = DagsterPgCronTranslator().get_asset_spec(job)
    assert spec.metadata["dagster-pgcron/jobid"] == 42
    assert spec.metadata["dagster-pgcron/schedule_description"]


def test_idempotency_key_stable_across_retries_not_reexecutions() -> None:
    key = dg.AssetKey(["a", "b"])
    original = idempotency_key("run-1", {}, key)
    # step retry: same run id
    assert idempotency_key("run-1", {}, key) == original
    # automatic run retry: new run id, retry_number + root_run_id tags
    retry_tags = {
        "dagster/retry_number": "1",
        "dagster/root_run_id": "run-1",
        "dagster/parent_run_id": "run-1",
    }
    assert idempotency_key("run-2", retry_tags, key) == original
    # manual re-execution: root_run_id but no retry_number -> a new request
    manual = {"dagster/root_run_id": "run-1", "dagster/parent_run_id": "run-1"}
    assert idempotency_key("run-3", manual, key) != original
    assert lineage_run_id("run-3", manual) == "run-3"
    # partitions are materialized separately
    assert idempotency_key("run-1", {}, key, "2026-01-01") != original


def test_pushdown_specs_need_sql() -> None:
    with pytest.raises(pgcron.UnsupportedCommand, match="empty"):
        pgcron_asset("x", "   ")
    with pytest.raises(pgcron.UnsupportedCommand, match="has no SQL"):
        pgcron_assets(specs=[dg.AssetSpec("plain")])


def test_decorator_over_multi_asset_is_subsettable() -> None:
    tr = DagsterPgCronTranslator()

    @pgcron_assets(
        specs=[
            tr.get_pushdown_asset_spec("a", "SELECT 1"),
            tr.get_pushdown_asset_spec("b", "SELECT 2", deps=["a"]),
            pgcron.JobSpec("c", "@daily", "SELECT 3"),
        ]
    )
    def three(context):
        yield from ()

    assert three.can_subset
    assert set(three.keys) == {dg.AssetKey("a"), dg.AssetKey("b"), dg.AssetKey(["pg_cron", "c"])}
    spec_c = next(s for s in three.specs if s.key == dg.AssetKey(["pg_cron", "c"]))
    assert spec_c.metadata["dagster-pgcron/sql"] == "SELECT 3"


COMPONENT_YAML = """
jobs:
  namespace: shop
  jobs:
    - name: refresh
      schedule: "*/5 * * * *"
      command: REFRESH MATERIALIZED VIEW daily_sales
    - name: vacuum
      schedule: "0 3 * * *"
      command: VACUUM ANALYZE orders
      tags: [owner:ops]
"""


def test_component_builds_specs_checks_sensor_and_apply_job(tmp_path: Path) -> None:
    comp = PgCronJobsComponent.resolve_from_yaml(COMPONENT_YAML)
    defs = comp.build_defs_at(tmp_path)
    dg.Definitions.validate_loadable(defs)
    keys = {s.key for s in defs.assets}
    assert keys == {dg.AssetKey(["pg_cron", "shop", "refresh"]), dg.AssetKey(["pg_cron", "shop", "vacuum"])}
    assert [s.name for s in defs.sensors] == ["pg_cron_runs_shop"]
    assert defs.resolve_job_def("pg_cron_apply_shop") is not None
    checks = defs.resolve_asset_graph().asset_check_keys
    assert dg.AssetCheckKey(dg.AssetKey(["pg_cron", "shop", "refresh"]), "pg_cron_on_schedule") in checks


def test_component_reports_every_jobs_file_problem(tmp_path: Path) -> None:
    bad = PgCronJobsComponent.resolve_from_yaml(
        """
jobs:
  namespace: shop
  jobs:
    - name: a
      schedule: "61 * * * *"
      command: SELECT 1
    - name: b
      schedule: "* * * * *"
      command: ""
"""
    )
    with pytest.raises(JobsFileError) as err:
        bad.build_defs_at(tmp_path)
    assert len(err.value.problems) == 2
    assert "'a'" in str(err.value) and "'b'" in str(err.value) and "schedule" in str(err.value)


def test_component_needs_exactly_one_source(tmp_path: Path) -> None:
    with pytest.raises(dg.DagsterInvalidDefinitionError, match="exactly one"):
        PgCronJobsComponent.resolve_from_yaml("dsn_env_var: X").build_defs_at(tmp_path)
