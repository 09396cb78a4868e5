"""A dg project using dagster_pgcron.PgCronJobsComponent (examples/dagster/dg_project)."""
