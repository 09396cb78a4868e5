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
-- belong to the job's role. The command and timeout are the role's own (its apply record), so the worst a role
-- can do with them is cancel its own backends, which it may do anyway; a command shared by two jobs of a role
-- is not matched at all (its runs cannot be told apart). It signals only where it may: superuser, the job's own role, or pg_signal_backend
-- for a role that is not superuser. Elsewhere (Azure, Supabase: no pg_signal_backend; Cloud SQL: other roles'
-- queries are hidden without pg_read_all_stats) the timeout stays unenforced for app roles, without a warning
-- on every pass.

-- pg_cancel_backend's own rule (PostgreSQL 16+): a superuser may cancel anyone; otherwise the target must not be
-- a superuser, and the canceller must have the privileges of the target role or of pg_signal_backend. The
-- role is looked up first: pg_has_role raises for a role that no longer exists.
CREATE OR REPLACE FUNCTION pgcron._may_signal(p_role text) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p_role = current_user::text
        OR pgcron._is_superuser(current_user::text)
        OR (pg_catalog.to_regrole(pg_catalog.quote_ident(p_role)) IS NOT NULL
            AND NOT pgcron._is_superuser(p_role)
            AND (pg_catalog.pg_has_role(current_user, 'pg_signal_backend', 'USAGE')
                 OR pg_catalog.pg_has_role(current_user, p_role::name, 'USAGE')))
$$;

-- Row security on cron.job_run_details does not apply to superusers and roles with BYPASSRLS.
CREATE OR REPLACE FUNCTION pgcron._sees_all_runs() RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r
                      WHERE r.rolname = current_user), false)
$$;

CREATE OR REPLACE FUNCTION pgcron._maint_job_timeouts() RETURNS integer
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    n integer := 0;
    v_shown integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pgcron.applied_job a WHERE a.timeout IS NOT NULL) THEN
        RETURN 0;
    END IF;
    -- pg_stat_activity.query holds at most track_activity_query_size - 1 bytes, cut at a character boundary
    -- (pg_settings gives the size in bytes; current_setting would say '1kB')
    SELECT t.setting::integer - 4 INTO v_shown FROM pg_catalog.pg_settings t
     WHERE t.name = 'track_activity_query_size';
    FOR r IN
        -- (1) the run rows the owner may see name their backend; the backend must be the one that started the
        -- run (its backend_start visible and not later), never a later backend that reuses the pid
        SELECT d.job_pid AS pid, a.username
          FROM pgcron.applied_job a
          JOIN cron.job j ON j.jobid = a.jobid AND j.username = a.username
          JOIN cron.job_run_details d ON d.jobid = a.jobid AND d.username = a.username
          JOIN pg_catalog.pg_stat_activity x ON x.pid = d.job_pid AND x.usename = a.username
         WHERE a.timeout IS NOT NULL
           AND d.status IN ('starting', 'connecting', 'sending', 'running')
           AND d.start_time + a.timeout < clock_timestamp()
           AND x.backend_start <= d.start_time + interval '1 second'
           AND pgcron._may_signal(a.username)
        UNION
        -- (2) the runs row security hides from the owner (a managed admin): pg_cron's backend of the job's
        -- role, in its database, running its command. Only for a job whose (role, database, command) no other
        -- job shares, so another job's runs are never taken for this one's. Not for an owner that sees every
        -- run row (superuser, BYPASSRLS): (1) finds those, with the stricter pid check. At most 100 per pass.
        -- No lookup in cron.job_run_details here: it has no index but runid, and this runs every 5 s.
        (SELECT x.pid, k.username
           FROM (SELECT a.username, j.database, j.command, a.timeout
                   FROM pgcron.applied_job a
                   JOIN cron.job j ON j.jobid = a.jobid AND j.username = a.username
                  WHERE a.timeout IS NOT NULL
                    AND NOT pgcron._sees_all_runs()
                    AND NOT EXISTS (SELECT 1 FROM cron.job o
                                     WHERE o.jobid <> j.jobid AND o.username = j.username
                                       AND o.database = j.database AND o.command = j.command)
                    AND pgcron._may_signal(a.username)) k
           JOIN pg_catalog.pg_stat_activity x
             ON x.usename = k.username AND x.datname = k.database
            AND (x.query = k.command
                 OR (pg_catalog.octet_length(x.query) >= v_shown AND pg_catalog.starts_with(k.command, x.query)))
          WHERE x.state = 'active'
            AND (x.backend_type = 'pg_cron' OR x.application_name = 'pg_cron')
            AND x.query_start + k.timeout < clock_timestamp()
          LIMIT 100)
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

REVOKE ALL ON FUNCTION pgcron._may_signal(text), pgcron._sees_all_runs(), pgcron._maint_job_timeouts() FROM PUBLIC;
