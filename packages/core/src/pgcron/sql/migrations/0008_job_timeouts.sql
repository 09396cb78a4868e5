-- pgcron engine migration 0008: jobs-file timeouts of other roles' jobs where the engine owner is not superuser
-- (issue 13; docs/managed-postgres.md).
--
-- Maintenance enforced an applied job's `timeout` by finding its running row in cron.job_run_details and
-- cancelling that row's job_pid. On a managed server the engine owner is the customer's admin, and row security
-- on job_run_details shows it only its own runs, so an app role's overdue run was never found. On RDS the admin
-- group sees every job in cron.job and every backend in pg_stat_activity (pg_monitor) and may signal them
-- (pg_signal_backend), so nothing but the run row was missing.
--
-- Now maintenance also finds an overdue run in pg_stat_activity: a pg_cron backend (background worker of type
-- `pg_cron`, or a libpq connection with application_name `pg_cron`) of the job's role, in the job's database,
-- running exactly the job's command, whose query started longer ago than the timeout. The engine derives the
-- pid itself from the server's own view. A caller writes neither the pid nor the role, and the backend must
-- belong to the job's role. It signals only where it may: superuser, the job's own role, or pg_signal_backend
-- for a role that is not superuser. Elsewhere (Azure, Supabase: no pg_signal_backend; Cloud SQL: other roles'
-- queries are hidden without pg_read_all_stats) the timeout stays unenforced for app roles, without a warning
-- on every pass.

CREATE OR REPLACE FUNCTION pgcron._may_signal(p_role text) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p_role = current_user::text
        OR pgcron._is_superuser(current_user::text)
        OR (pg_catalog.pg_has_role(current_user, 'pg_signal_backend', 'USAGE')
            AND NOT pgcron._is_superuser(p_role))
$$;

CREATE OR REPLACE FUNCTION pgcron._maint_job_timeouts() RETURNS integer
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pgcron.applied_job a WHERE a.timeout IS NOT NULL) THEN
        RETURN 0;
    END IF;
    FOR r IN
        -- the run rows the owner may see name their backend
        SELECT d.job_pid AS pid, a.username
          FROM pgcron.applied_job a
          JOIN cron.job j ON j.jobid = a.jobid AND j.username = a.username
          JOIN cron.job_run_details d ON d.jobid = a.jobid AND d.username = a.username
          JOIN pg_catalog.pg_stat_activity x ON x.pid = d.job_pid AND x.usename = a.username
         WHERE a.timeout IS NOT NULL
           AND d.status IN ('starting', 'connecting', 'sending', 'running')
           AND d.start_time + a.timeout < clock_timestamp()
           AND (x.backend_start IS NULL OR x.backend_start <= d.start_time + interval '1 second')
           AND pgcron._may_signal(a.username)
        UNION
        -- the runs it may not see: pg_cron's backend of the job's role running the job's command
        SELECT x.pid, a.username
          FROM pgcron.applied_job a
          JOIN cron.job j ON j.jobid = a.jobid AND j.username = a.username
          JOIN pg_catalog.pg_stat_activity x
            ON x.usename = a.username AND x.datname = j.database AND x.query = j.command
         WHERE a.timeout IS NOT NULL
           AND x.state = 'active'
           AND (x.backend_type = 'pg_cron' OR x.application_name = 'pg_cron')
           AND x.query_start + a.timeout < clock_timestamp()
           AND pgcron._may_signal(a.username)
    LOOP
        BEGIN
            IF pg_catalog.pg_cancel_backend(r.pid) THEN
                n := n + 1;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'pgcron maintenance: could not cancel backend % (job timeout): %', r.pid, SQLERRM;
        END;
    END LOOP;
    RETURN n;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pgcron maintenance: job timeouts skipped this pass: %', SQLERRM;
    RETURN 0;
END $$;

REVOKE ALL ON FUNCTION pgcron._may_signal(text), pgcron._maint_job_timeouts() FROM PUBLIC;
