-- pgcron engine migration 0005: managed PostgreSQL, where the engine owner is not superuser
-- (docs/managed-postgres.md; issue 13).
--
-- On RDS, Cloud SQL, Azure, Supabase and Neon the installer (the customer's admin role) is not superuser, so
-- the engine job it owns cannot do for other roles what 0004 expects:
--   * cron.job and cron.job_run_details have row security: the engine owner may not see another role's job,
--     so _submission_bind could not find the job pgcron.submit had just created (Azure, Neon);
--   * pg_cron lets only a superuser or the job's owner unschedule a job, so maintenance failed (and warned on
--     every pass) on another role's temporary job pgcron:run:<id>, which stayed behind;
--   * pg_stat_activity hides backend_start of other roles' backends without pg_read_all_stats, so maintenance
--     took a running submission of another role for lost.
-- This migration keeps ADR 0005's rules: each role removes its own settled temporary jobs with its own rights
-- (pgcron.tidy_own(), SECURITY INVOKER, called by pgcron.submit), and the engine takes the caller's word for a
-- job id only where it cannot see the job, and then never acts on that id with its own rights.
--
-- Runs in cron.database_name as the engine owner. Re-running it is harmless.

-- 1. Helpers. ------------------------------------------------------------------------------------------------

-- pg_cron refuses cron.unschedule of another role's job unless the caller is superuser.
CREATE OR REPLACE FUNCTION pgcron._may_unschedule(p_role text) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p_role = current_user::text OR pgcron._is_superuser(current_user::text)
$$;

-- A backend seen in pg_stat_activity started no later than a claim. backend_start is NULL where the viewer may
-- not see the backend's details (another role, no pg_read_all_stats): the pid and its role are then all we
-- know, and a live backend of the submission's role is taken to be the claiming one.
CREATE OR REPLACE FUNCTION pgcron._started_by(p_backend_start timestamptz, p_claimed_at timestamptz)
    RETURNS boolean
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p_backend_start IS NULL OR p_backend_start <= p_claimed_at
$$;

-- 2. Whether the engine has seen the job itself. -------------------------------------------------------------

ALTER TABLE pgcron.submission ADD COLUMN IF NOT EXISTS jobid_reported boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN pgcron.submission.jobid_reported IS
    'true: the engine owner could not see the job (row security on cron.job) and recorded the id pgcron.submit '
    'reported; the engine never acts on such an id with its own rights (only the role itself, pgcron.tidy_own)';

-- Bind the submission to its job. As 0004's _submission_bind (the id read from the cron.job row of the
-- submission's role), and where row security hides that row from the engine owner, the id cron.schedule
-- returned to pgcron.submit, marked as reported. A reported id is refused when it names a job the engine can
-- see (then it is not this submission's), or when the submission runs as the engine owner (it would see it).
CREATE OR REPLACE FUNCTION pgcron._submission_bind(p_role text, p_id bigint, p_jobid bigint) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_role text := pgcron._verified_role(p_role);
    s pgcron.submission;
    v_jobid bigint;
BEGIN
    SELECT * INTO s FROM pgcron.submission t WHERE t.id = p_id AND t.submitted_by = v_role FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PGC03', MESSAGE = format('no submission with id %s', p_id);
    END IF;
    IF s.jobid IS NOT NULL THEN
        RETURN s.jobid;
    END IF;
    SELECT j.jobid INTO v_jobid FROM cron.job j
     WHERE j.jobname = 'pgcron:run:' || s.id::text AND j.username = s.username AND j.database = s.database
       AND j.command = CASE WHEN s.top_level THEN s.command
                            ELSE format('CALL pgcron.execute_submission(%s)', s.id) END;
    IF v_jobid IS NOT NULL THEN
        UPDATE pgcron.submission t SET jobid = v_jobid, jobname = 'pgcron:run:' || s.id::text WHERE t.id = p_id;
        RETURN v_jobid;
    END IF;
    IF p_jobid IS NULL OR s.username = current_user::text OR pgcron._is_superuser(current_user::text)
       OR EXISTS (SELECT 1 FROM cron.job j WHERE j.jobid = p_jobid) THEN
        RAISE EXCEPTION USING ERRCODE = 'PGC03',
            MESSAGE = format('pgcron: the job of submission %s was not created as planned', p_id);
    END IF;
    UPDATE pgcron.submission t SET jobid = p_jobid, jobname = 'pgcron:run:' || s.id::text, jobid_reported = true
     WHERE t.id = p_id;
    RETURN p_jobid;
END $$;

-- 3. Each role tidies its own temporary jobs. ----------------------------------------------------------------

-- Unschedule the caller's own temporary jobs whose submissions are over, and delete the run rows of their
-- repeat firings (which ran nothing). SECURITY INVOKER: everything here is the caller's own (row security on
-- cron.job, cron.job_run_details and pgcron.submission shows it nothing else) and runs with its own rights,
-- so no id it could influence reaches the engine's rights. A job whose submission is retired (gone) is
-- removed too. Never raises: a job it cannot remove now is retried on the next call. Returns how many.
CREATE OR REPLACE FUNCTION pgcron.tidy_own() RETURNS integer
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    IF to_regnamespace('cron') IS NULL OR NOT has_schema_privilege('cron', 'USAGE') THEN
        RETURN 0;
    END IF;
    -- Where the engine owner may remove this role's jobs (it is this role, or superuser), maintenance does.
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles o ON o.oid = n.nspowner
                WHERE n.nspname = 'pgcron' AND (o.rolsuper OR o.rolname = current_user)) THEN
        RETURN 0;
    END IF;
    FOR r IN
        SELECT j.jobid, s.id, s.finished_at, s.claimed_pid, s.claimed_at, s.top_level,
               coalesce(s.runid_floor, 0) AS runid_floor
          FROM cron.job j
          LEFT JOIN pgcron.submission s
                 ON 'pgcron:run:' || s.id::text = j.jobname AND s.username = j.username
         WHERE j.username = current_user::text AND starts_with(j.jobname, 'pgcron:run:')
           AND (s.id IS NULL OR s.finished_at IS NOT NULL
                -- a one-shot (top-level) job whose run the engine owner may not see: its own run row says
                -- it is over (left scheduled, the same minute would fire again next year)
                OR (s.top_level AND EXISTS (
                        SELECT 1 FROM cron.job_run_details d
                         WHERE d.jobid = j.jobid AND d.username = current_user::text
                           AND d.runid >= s.runid_floor AND d.status IN ('succeeded', 'failed'))))
         ORDER BY j.jobid
         LIMIT 200
    LOOP
        BEGIN
            -- the claimed backend must be gone: unscheduling earlier would cancel the run and falsify its row
            CONTINUE WHEN r.claimed_pid IS NOT NULL AND EXISTS (
                SELECT 1 FROM pg_catalog.pg_stat_activity a
                 WHERE a.pid = r.claimed_pid AND pgcron._started_by(a.backend_start, r.claimed_at));
            -- and no firing of the job may still be going (a one-shot's backend may outlive its row's
            -- 'succeeded' in background-worker mode)
            CONTINUE WHEN EXISTS (
                SELECT 1 FROM cron.job_run_details d
                  JOIN pg_catalog.pg_stat_activity a ON a.pid = d.job_pid
                 WHERE d.jobid = r.jobid AND d.username = current_user::text AND d.runid >= r.runid_floor
                   AND (d.status NOT IN ('succeeded', 'failed') OR r.top_level));
            PERFORM cron.unschedule(r.jobid);
            IF r.id IS NOT NULL AND NOT r.top_level AND r.claimed_pid IS NOT NULL THEN
                DELETE FROM cron.job_run_details d
                 WHERE d.jobid = r.jobid AND d.username = current_user::text AND d.runid >= r.runid_floor
                   AND d.job_pid IS DISTINCT FROM r.claimed_pid AND d.status IN ('succeeded', 'failed');
            END IF;
            n := n + 1;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'pgcron: could not remove the temporary job % of role %: %', r.jobid, current_user,
                SQLERRM;
        END;
    END LOOP;
    RETURN n;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pgcron: temporary jobs of role % not tidied: %', current_user, SQLERRM;
    RETURN 0;
END $$;

-- 4. Submitting: tidy first, then bind with the id cron.schedule returned. ------------------------------------

CREATE OR REPLACE FUNCTION pgcron.submit(
    p_command   text,
    p_key       text DEFAULT NULL,
    p_database  text DEFAULT NULL,
    p_username  text DEFAULT NULL,
    p_timeout   interval DEFAULT NULL,
    p_top_level boolean DEFAULT false
) RETURNS TABLE (submission_id bigint, jobid bigint, reattached boolean)
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o record;
    v_jobid bigint;
BEGIN
    PERFORM pgcron.tidy_own();
    SELECT * INTO o FROM pgcron._submission_open(current_user::text, p_command, p_key, p_database, p_username,
                                                 p_timeout, p_top_level);
    IF o.reattached THEN
        RETURN QUERY SELECT o.id, o.jobid, true;
        RETURN;
    END IF;
    -- schedule_in_database is revoked from PUBLIC and a non-NULL username needs a superuser (pg_cron #390):
    -- only another database or another role takes that path, and the role is passed only when it differs.
    IF o.database = current_database() AND o.username = current_user::text THEN
        v_jobid := cron.schedule(o.jobname, o.schedule, o.job_command);
    ELSE
        v_jobid := cron.schedule_in_database(o.jobname, o.schedule, o.job_command, o.database,
                                             CASE WHEN o.username = current_user::text THEN NULL
                                                  ELSE o.username END);
    END IF;
    v_jobid := pgcron._submission_bind(current_user::text, o.id, v_jobid);
    RETURN QUERY SELECT o.id, v_jobid, false;
END $$;

-- 5. Maintenance: 0004's step for one submission, except that it unschedules only what it may (its own
-- role's jobs, or any as superuser), and that a live backend whose start it may not see counts as alive.
CREATE OR REPLACE FUNCTION pgcron._maint_submission(p_id bigint) RETURNS text
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s pgcron.submission;
    d record;
    v_now timestamptz := clock_timestamp();
    v_alive boolean;
    v_runid bigint;
BEGIN
    SELECT * INTO s FROM pgcron.submission t WHERE t.id = p_id FOR UPDATE;
    IF NOT FOUND OR s.settled THEN
        RETURN 'gone';
    END IF;

    IF s.finished_at IS NULL THEN
        IF s.top_level THEN
            SELECT r.runid, r.status, r.return_message, r.start_time, r.end_time, r.job_pid INTO d
              FROM cron.job_run_details r
             WHERE s.jobid IS NOT NULL AND r.jobid = s.jobid AND r.username = s.username
               AND r.runid > s.runid_floor
             ORDER BY r.runid DESC LIMIT 1;
            IF d.runid IS NOT NULL AND d.status IN ('succeeded', 'failed') THEN
                UPDATE pgcron.submission t
                   SET finished_at = coalesce(d.end_time, v_now), claimed_at = d.start_time,
                       claimed_pid = d.job_pid, runid = d.runid,
                       outcome = CASE WHEN d.status = 'succeeded' THEN 'succeeded'
                                      WHEN t.timed_out_at IS NOT NULL THEN 'timed_out'
                                      WHEN t.cancel_requested_at IS NOT NULL THEN 'canceled'
                                      ELSE 'failed' END,
                       error = CASE WHEN d.status = 'failed' THEN d.return_message END
                 WHERE t.id = p_id;
                RETURN 'finished';
            ELSIF d.runid IS NOT NULL THEN
                IF s.timeout IS NOT NULL AND d.job_pid IS NOT NULL AND d.start_time + s.timeout < v_now THEN
                    UPDATE pgcron.submission t SET timed_out_at = coalesce(t.timed_out_at, v_now) WHERE t.id = p_id;
                    PERFORM pg_cancel_backend(a.pid) FROM pg_catalog.pg_stat_activity a
                     WHERE a.pid = d.job_pid AND a.usename = s.username;
                    RETURN 'timed_out';
                END IF;
                RETURN 'running';
            ELSIF s.start_by < v_now THEN
                UPDATE pgcron.submission t SET finished_at = v_now, outcome = 'expired',
                       error = 'the run did not start before ' || t.start_by::text
                 WHERE t.id = p_id;
                RETURN 'expired';
            END IF;
            RETURN 'waiting';
        END IF;

        IF s.claimed_pid IS NOT NULL THEN
            v_alive := EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                                WHERE a.pid = s.claimed_pid AND pgcron._started_by(a.backend_start, s.claimed_at)
                                  AND a.usename = s.username);
            IF NOT v_alive THEN
                UPDATE pgcron.submission t
                   SET finished_at = v_now, outcome = 'lost',
                       error = 'the run ended without recording an outcome (server restart or terminated backend)'
                 WHERE t.id = p_id;
                RETURN 'lost';
            END IF;
            IF s.timeout IS NOT NULL AND s.claimed_at + s.timeout < v_now THEN
                UPDATE pgcron.submission t SET timed_out_at = coalesce(t.timed_out_at, v_now) WHERE t.id = p_id;
                -- Signalled while this transaction holds the row: the run's finish waits for it and sees
                -- timed_out_at. The pid was verified above to be the claiming backend of this role.
                PERFORM pg_cancel_backend(s.claimed_pid);
                RETURN 'timed_out';
            END IF;
            RETURN 'running';
        END IF;

        IF s.start_by < v_now THEN
            UPDATE pgcron.submission t SET finished_at = v_now, outcome = 'expired',
                   error = 'the run did not start before ' || t.start_by::text
             WHERE t.id = p_id;
            RETURN 'expired';
        END IF;
        RETURN 'waiting';
    END IF;

    IF s.job_removed_at IS NULL THEN
        -- Remove the temporary job once its run is really over: the claimed backend is gone and the claimed
        -- run row is terminal (unscheduling earlier would cancel it and falsify its row).
        IF s.claimed_pid IS NOT NULL AND NOT s.top_level THEN
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                        WHERE a.pid = s.claimed_pid AND a.usename = s.username
                          AND pgcron._started_by(a.backend_start, s.claimed_at)) THEN
                RETURN 'exiting';
            END IF;
            SELECT r.runid, r.status INTO d FROM cron.job_run_details r
             WHERE s.jobid IS NOT NULL AND r.jobid = s.jobid AND r.username = s.username
               AND r.job_pid = s.claimed_pid AND r.runid > s.runid_floor
             ORDER BY r.runid DESC LIMIT 1;
            IF d.runid IS NOT NULL AND d.status NOT IN ('succeeded', 'failed') AND s.outcome <> 'lost' THEN
                RETURN 'settling';
            END IF;
            v_runid := d.runid;
        END IF;
        -- Only a superuser or the job's own role may unschedule it; other roles' jobs are removed by those
        -- roles themselves (pgcron.tidy_own), so the engine only records that it is done with them.
        IF s.jobid IS NOT NULL AND pgcron._may_unschedule(s.username) AND EXISTS (SELECT 1 FROM cron.job j
                                            WHERE j.jobid = s.jobid AND j.jobname = s.jobname
                                              AND j.username = s.username) THEN
            PERFORM cron.unschedule(s.jobid);
        END IF;
        UPDATE pgcron.submission t
           SET job_removed_at = v_now, runid = coalesce(t.runid, v_runid),
               settled = (t.top_level OR t.claimed_pid IS NULL OR t.jobid IS NULL)
         WHERE t.id = p_id;
        RETURN 'removed';
    END IF;

    -- Repeat firings ran nothing (they found the claim): delete their rows so the job's history holds exactly
    -- the one run that executed the SQL. Only once the launcher no longer writes them.
    IF s.job_removed_at < v_now - interval '10 seconds' THEN
        DELETE FROM cron.job_run_details r
         WHERE r.jobid = s.jobid AND r.username = s.username AND r.runid > s.runid_floor
           AND r.job_pid IS DISTINCT FROM s.claimed_pid AND r.status IN ('succeeded', 'failed');
        UPDATE pgcron.submission t SET noop_rows_purged = true, settled = true WHERE t.id = p_id;
        RETURN 'settled';
    END IF;
    RETURN 'removed';
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pgcron maintenance: submission % skipped this pass: %', p_id, SQLERRM;
    RETURN 'error';
END $$;


-- 6. Apply records: 0004's _record_applied_jobs, except that a job row security hides from the engine owner is
-- left without a record instead of failing the apply (no description, tags or timeout is kept for it).

CREATE OR REPLACE FUNCTION pgcron._record_applied_jobs(p_role text, p_jobids bigint[], p_specs jsonb[],
                                                      p_created boolean[]) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_role text := pgcron._verified_role(p_role);
    j record;
    v_spec jsonb;
    v_timeout interval;
    v_secs numeric;
    n integer := 0;
BEGIN
    IF coalesce(cardinality(p_jobids), 0) <> coalesce(cardinality(p_specs), 0)
       OR coalesce(cardinality(p_jobids), 0) <> coalesce(cardinality(p_created), 0) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'pgcron: jobids, specs and created differ in length';
    END IF;
    FOR i IN 1 .. coalesce(cardinality(p_jobids), 0) LOOP
        SELECT cj.jobid, cj.jobname::text AS jobname, cj.username::text AS username INTO j
          FROM cron.job cj WHERE cj.jobid = p_jobids[i];
        IF j.jobid IS NULL THEN
            -- Row security on cron.job hides other roles' jobs from an engine owner that is not superuser
            -- (managed PostgreSQL): a job it cannot see cannot be verified, so it gets no record.
            CONTINUE WHEN v_role <> current_user::text AND NOT pgcron._is_superuser(current_user::text);
            RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('pgcron: job %s does not exist', p_jobids[i]);
        END IF;
        IF j.username <> v_role AND (to_regrole(quote_ident(j.username)) IS NULL
                                     OR NOT pg_has_role(session_user, j.username::name, 'USAGE')) THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = format('pgcron: job %s (%s) belongs to role %s; %s may not record it',
                                 j.jobid, j.jobname, j.username, v_role);
        END IF;
        IF j.jobname IS NULL OR position(':' IN j.jobname) < 2 THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = format('pgcron: job %s has no namespace in its name', j.jobid);
        END IF;
        v_spec := p_specs[i];
        IF v_spec IS NULL OR jsonb_typeof(v_spec) <> 'object' THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = format('pgcron: the record of job %s must be a JSON object', j.jobname);
        END IF;
        v_timeout := NULL;
        IF v_spec ? 'timeout_seconds' AND jsonb_typeof(v_spec -> 'timeout_seconds') <> 'null' THEN
            IF jsonb_typeof(v_spec -> 'timeout_seconds') <> 'number' THEN
                RAISE EXCEPTION USING ERRCODE = '22023',
                    MESSAGE = format('pgcron: timeout_seconds of job %s must be a number', j.jobname);
            END IF;
            v_secs := (v_spec ->> 'timeout_seconds')::numeric;
            IF NOT (v_secs > 0 AND v_secs <= 2678400) THEN
                RAISE EXCEPTION USING ERRCODE = '22023',
                    MESSAGE = format('pgcron: timeout_seconds of job %s must be in (0, 2678400] (31 days), got %s',
                                     j.jobname, v_secs);
            END IF;
            v_timeout := make_interval(secs => v_secs::double precision);
        END IF;
        INSERT INTO pgcron.applied_job AS a (jobid, jobname, namespace, username, spec, timeout, created_at,
                                             applied_at, applied_by)
        VALUES (j.jobid, j.jobname, split_part(j.jobname, ':', 1), j.username, v_spec, v_timeout,
                CASE WHEN p_created[i] THEN clock_timestamp() END, clock_timestamp(), v_role)
        ON CONFLICT (jobid) DO UPDATE
           SET jobname = excluded.jobname, namespace = excluded.namespace, username = excluded.username,
               spec = excluded.spec, timeout = excluded.timeout,
               created_at = coalesce(excluded.created_at, a.created_at),
               applied_at = excluded.applied_at, applied_by = excluded.applied_by;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;


-- 7. Who may execute what. -----------------------------------------------------------------------------------

REVOKE ALL ON FUNCTION pgcron._may_unschedule(text) FROM PUBLIC;
-- _started_by: pure; tidy_own (invoker) calls it. _submission_bind verifies the role it is told.
GRANT EXECUTE ON FUNCTION pgcron._started_by(timestamptz, timestamptz), pgcron._submission_bind(text, bigint, bigint),
                          pgcron.tidy_own()
    TO PUBLIC;
