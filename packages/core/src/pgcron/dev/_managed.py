"""Managed-PostgreSQL flavours of the dev server (``pgcron dev up --managed PROVIDER``).

Each :class:`Provider` reproduces, as far as one local cluster can, what the customer of that service gets:

- the cluster's bootstrap superuser is the provider's own admin role (``rdsadmin``, ``cloudsqladmin``,
  ``azuresu``, ``supabase_admin``, ``cloud_admin``); it creates and owns pg_cron, and it cannot log in over
  TCP (``pg_hba.conf`` rejects it), only through the instance's Unix socket, which test harnesses use;
- the customer's admin login (``postgres``, ``myadmin``, ``neondb_owner``) with the provider's attributes,
  group role and grants on the ``cron`` schema;
- the settings the provider fixes (execution mode, ``cron.max_running_jobs``, ``cron.timezone``,
  ``cron.enable_superuser_jobs``, ``max_connections`` where it matters) written to ``postgresql.conf``,
  where the customer cannot change them.

The facts and their sources are in ``reference/managed-postgres.md``; what each emulation cannot reproduce is
in ``docs/managed-postgres.md``. The bootstrap statements are constants (no identifiers from input).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import psycopg
from psycopg import sql

from pgcron.errors import DevServerError

Managed = Literal["rds", "cloudsql", "azure", "supabase", "neon"]
MANAGED: tuple[Managed, ...] = ("rds", "cloudsql", "azure", "supabase", "neon")


@dataclass(frozen=True)
class Provider:
    """One provider's privilege model and fixed settings."""

    name: Managed
    title: str
    superuser: str  # the provider's own superuser: bootstrap user of the cluster, owner of pg_cron
    admin: str  # the customer's admin login (not superuser)
    database: str  # cron.database_name, where the extension lives
    background_workers: bool
    settings: Mapping[str, str] = field(default_factory=dict)  # fixed in postgresql.conf
    # Run as the provider superuser in `database` after CREATE EXTENSION pg_cron, once per cluster.
    bootstrap: tuple[str, ...] = ()

    @property
    def mode(self) -> str:
        return "background workers" if self.background_workers else "libpq"


# pg_cron's own functions whose EXECUTE it revokes from PUBLIC (pg_cron #198, #380).
_SCHEDULE_IN_DB = "cron.schedule_in_database(text, text, text, text, text, boolean)"
_ALTER_JOB = "cron.alter_job(bigint, text, text, text, text, boolean)"

_RDS = Provider(
    name="rds",
    title="AWS RDS / Aurora PostgreSQL",
    superuser="rdsadmin",
    admin="postgres",
    database="postgres",
    background_workers=True,
    settings={
        "cron.use_background_workers": "on",
        "cron.max_running_jobs": "5",
        "max_worker_processes": "8",  # RDS: GREATEST(2 x vCPU, 8); must exceed max_running_jobs
        "cron.timezone": "'GMT'",
        "cron.enable_superuser_jobs": "on",
    },
    bootstrap=(
        # The master user's group: not superuser; CREATEROLE/CREATEDB are the master user's own attributes.
        "CREATE ROLE rds_superuser NOLOGIN",
        "GRANT pg_monitor, pg_signal_backend TO rds_superuser WITH ADMIN OPTION",
        "CREATE ROLE postgres LOGIN CREATEROLE CREATEDB IN ROLE rds_superuser",
        "ALTER DATABASE postgres OWNER TO postgres",
        "GRANT USAGE ON SCHEMA cron TO rds_superuser WITH GRANT OPTION",
        "GRANT EXECUTE ON FUNCTION " + _SCHEDULE_IN_DB + " TO rds_superuser WITH GRANT OPTION",
        "GRANT EXECUTE ON FUNCTION " + _ALTER_JOB + " TO rds_superuser WITH GRANT OPTION",
        # "only rds_superuser sees all jobs" (AWS user guide): a read policy beside pg_cron's own.
        "CREATE POLICY rds_superuser_reads_jobs ON cron.job FOR SELECT TO rds_superuser USING (true)",
    ),
)

_CLOUDSQL = Provider(
    name="cloudsql",
    title="Google Cloud SQL for PostgreSQL",
    superuser="cloudsqladmin",
    admin="postgres",
    database="postgres",
    background_workers=True,
    settings={
        "cron.use_background_workers": "on",
        "cron.max_running_jobs": "5",
        "max_worker_processes": "8",
        "cron.timezone": "'GMT'",
        "cron.enable_superuser_jobs": "off",
    },
    bootstrap=(
        "CREATE ROLE cloudsqlsuperuser NOLOGIN CREATEROLE CREATEDB",
        "GRANT pg_signal_backend TO cloudsqlsuperuser WITH ADMIN OPTION",
        "CREATE ROLE postgres LOGIN CREATEROLE CREATEDB IN ROLE cloudsqlsuperuser",
        "ALTER DATABASE postgres OWNER TO postgres",
        "GRANT USAGE ON SCHEMA cron TO cloudsqlsuperuser WITH GRANT OPTION",
        "GRANT EXECUTE ON FUNCTION " + _SCHEDULE_IN_DB + " TO cloudsqlsuperuser WITH GRANT OPTION",
        "GRANT EXECUTE ON FUNCTION " + _ALTER_JOB + " TO cloudsqlsuperuser WITH GRANT OPTION",
        "CREATE POLICY cloudsqlsuperuser_reads_jobs ON cron.job FOR SELECT TO cloudsqlsuperuser USING (true)",
    ),
)

_AZURE = Provider(
    name="azure",
    title="Azure Database for PostgreSQL flexible server",
    superuser="azuresu",
    admin="myadmin",
    database="postgres",
    background_workers=False,
    settings={
        "cron.use_background_workers": "off",
        "cron.max_running_jobs": "32",
        "cron.timezone": "'GMT'",
        "cron.enable_superuser_jobs": "off",
    },
    bootstrap=(
        "CREATE ROLE azure_pg_admin NOLOGIN",
        "CREATE ROLE myadmin LOGIN CREATEROLE CREATEDB IN ROLE azure_pg_admin",
        "ALTER DATABASE postgres OWNER TO myadmin",
        "GRANT USAGE ON SCHEMA cron TO azure_pg_admin WITH GRANT OPTION",
        "GRANT EXECUTE ON FUNCTION " + _SCHEDULE_IN_DB + " TO azure_pg_admin WITH GRANT OPTION",
        "GRANT EXECUTE ON FUNCTION " + _ALTER_JOB + " TO azure_pg_admin WITH GRANT OPTION",
    ),
)

_SUPABASE = Provider(
    name="supabase",
    title="Supabase",
    superuser="supabase_admin",
    admin="postgres",
    database="postgres",
    background_workers=False,
    settings={
        "cron.use_background_workers": "off",
        "cron.max_running_jobs": "32",
        "max_connections": "60",  # the smallest plans
        "cron.timezone": "'GMT'",
    },
    bootstrap=(
        # supabase/postgres: postgres is not superuser but bypasses row security.
        "CREATE ROLE postgres LOGIN CREATEROLE CREATEDB REPLICATION BYPASSRLS",
        "ALTER DATABASE postgres OWNER TO postgres",
        "GRANT USAGE ON SCHEMA cron TO postgres WITH GRANT OPTION",
        "GRANT ALL ON ALL FUNCTIONS IN SCHEMA cron TO postgres WITH GRANT OPTION",
        "GRANT ALL ON ALL SEQUENCES IN SCHEMA cron TO postgres WITH GRANT OPTION",
        "GRANT ALL ON ALL TABLES IN SCHEMA cron TO postgres WITH GRANT OPTION",
        # writes on cron.job revoked (a writer could choose username); no TRIGGER on job_run_details
        "REVOKE ALL ON TABLE cron.job FROM postgres",
        "GRANT SELECT ON TABLE cron.job TO postgres WITH GRANT OPTION",
        "REVOKE TRIGGER ON TABLE cron.job_run_details FROM postgres",
    ),
)

_NEON = Provider(
    name="neon",
    title="Neon",
    superuser="cloud_admin",
    admin="neondb_owner",
    database="neondb",
    background_workers=False,
    settings={
        "cron.use_background_workers": "off",
        "cron.database_name": "'neondb'",
        "max_connections": "112",  # a 0.25 CU compute
        "cron.timezone": "'GMT'",
    },
    bootstrap=(
        "CREATE ROLE neon_superuser NOLOGIN CREATEROLE CREATEDB BYPASSRLS",
        "CREATE ROLE neondb_owner LOGIN CREATEROLE CREATEDB IN ROLE neon_superuser",
        "ALTER DATABASE neondb OWNER TO neondb_owner",
        # the cron schema stays cloud_admin's: its USAGE cannot be passed on (neon#12891)
        "GRANT USAGE ON SCHEMA cron TO neondb_owner",
    ),
)

PROVIDERS: dict[str, Provider] = {p.name: p for p in (_RDS, _CLOUDSQL, _AZURE, _SUPABASE, _NEON)}


def provider(name: str) -> Provider:
    try:
        return PROVIDERS[name]
    except KeyError:
        raise DevServerError(
            f"unknown managed flavour {name!r}: use one of {', '.join(MANAGED)}", managed=name
        ) from None


def hba_conf(p: Provider) -> str:
    """pg_hba.conf: the provider superuser only through the Unix socket, everybody else trusted."""
    return (
        "# written by `pgcron dev up --managed " + p.name + "`\n"
        "local all all trust\n"
        "host all " + p.superuser + " 127.0.0.1/32 reject\n"
        "host all " + p.superuser + " ::1/128 reject\n"
        "host all all 127.0.0.1/32 trust\n"
        "host all all ::1/128 trust\n"
    )


def bootstrap(p: Provider, superuser_dsn_postgres: str, superuser_dsn: str) -> None:
    """Create the provider's database, extension, roles and grants (once: skipped when the admin exists)."""
    with psycopg.connect(superuser_dsn_postgres, autocommit=True, connect_timeout=10) as conn:
        if p.database != "postgres":
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (p.database,)).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(p.database)))
    with psycopg.connect(superuser_dsn, connect_timeout=10) as conn:
        done = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (p.admin,)).fetchone()
        if done is not None:
            return
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        for statement in p.bootstrap:
            conn.execute(statement)  # constants of this module
        conn.commit()
