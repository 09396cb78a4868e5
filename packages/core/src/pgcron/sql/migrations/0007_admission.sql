-- pgcron engine migration 0007: slot admission control (docs/adr/0010-slot-admission.md).
--
-- pg_cron runs at most cron.max_running_jobs jobs at once (5 on RDS and Cloud SQL). A burst of pushdowns used
-- to schedule one `1 seconds` job per submission at once, all due together. Past the cap pg_cron's launcher
-- stalls everyone: in background-worker mode it busy-waits; in libpq mode its poll() takes the first
-- max_running_jobs tasks that are not idle — due-but-blocked tasks included, with no socket — so the tasks
-- that really run are never polled, their connections time out ("job startup timeout") or sit finished and
-- unread, and every scheduled job is delayed with them (measured: 500 submissions, 250-300 s instead of 16 s).
--
-- So the engine admits a submission's job only while fewer than the pushdown budget are in flight, server-wide:
--     budget = cap - pushdown_slot_reserve - lane workers configured (each holds a slot while it lives), >= 1
-- Other submissions wait in a queue (no job yet: jobid NULL, via 'job') and are admitted, oldest first, by
-- their own role: its next submit, and its waiters (pgcron.admit_queued(), which the client's waiter hub calls
-- while it waits on a queued submission). The engine never schedules a job for another role: on a managed
-- server it could not, and it must not choose what runs with another role's rights.
--
-- Not queued: one-shot submissions (top-level statements, other databases), which fire at a cron minute, and
-- submissions a superuser makes as another role. A queued submission expires at its start_by like any other.

-- 1. Settings. ----------------------------------------------------------------------------------------------

INSERT INTO pgcron.config (name, value, description) VALUES
    ('pushdown_slot_reserve', '2',
     'cron.max_running_jobs slots pushdown never takes: left to scheduled jobs and the engine''s own job'),
    ('max_running_jobs', 'auto',
     'cron.max_running_jobs as the engine assumes it: auto reads the setting (5 where it cannot be read)')
ON CONFLICT (name) DO NOTHING;

CREATE OR REPLACE FUNCTION pgcron._config_int(p_name text, p_default integer) RETURNS integer
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v integer;
BEGIN
    SELECT c.value::integer INTO v FROM pgcron.config c WHERE c.name = p_name;
    RETURN coalesce(v, p_default);
EXCEPTION WHEN OTHERS THEN
    RETURN p_default;   -- 'auto' or a bad setting never stops the engine
END $$;

-- 2. The budget. ---------------------------------------------------------------------------------------------

-- cron.max_running_jobs: the configured value, else the setting (readable by a superuser owner, or with
-- pg_read_all_settings, which RDS's rds_superuser has through pg_monitor), else 5, the smallest provider default
-- (RDS, Cloud SQL). Also says which of the three it is.
CREATE OR REPLACE FUNCTION pgcron._slot_cap_source(OUT cap integer, OUT source text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    cap := pgcron._config_int('max_running_jobs', NULL);
    IF cap IS NOT NULL AND cap > 0 THEN
        source := 'config';
        RETURN;
    END IF;
    BEGIN
        cap := current_setting('cron.max_running_jobs')::integer;
        source := 'setting';
    EXCEPTION WHEN OTHERS THEN
        cap := 5;   -- GUC_SUPERUSER_ONLY on most managed servers
        source := 'assumed';
    END;
END $$;

CREATE OR REPLACE FUNCTION pgcron._slot_cap() RETURNS integer
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT (pgcron._slot_cap_source()).cap
$$;

-- How many submission jobs may be in flight at once (never below one, so pushdown always progresses).
CREATE OR REPLACE FUNCTION pgcron._pushdown_budget() RETURNS integer
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT greatest(
        pgcron._slot_cap()
        - greatest(pgcron._config_int('pushdown_slot_reserve', 2), 0)
        - coalesce((SELECT pg_catalog.sum(c.workers) FROM pgcron.lane_config c), 0)::integer,
        1)
$$;

-- A submission job is in flight from its binding until it has an outcome (the procedure records it, or
-- maintenance: lost, expired) or its job is gone. After its claim it is rescheduled to 31 February, so it is
-- never due again; a job that outlives its outcome takes no slot.
CREATE INDEX IF NOT EXISTS submission_in_flight_idx ON pgcron.submission (id)
    WHERE jobid IS NOT NULL AND outcome IS NULL AND job_removed_at IS NULL AND NOT top_level;

-- Only jobs that still exist take a slot: a role that unschedules its own submissions' jobs (it may) must not
-- hold the budget with them until they expire (tests/security: a flood of open submissions). Where row
-- security hides another role's job from the engine owner (the id was reported, 0005), the row counts.
CREATE OR REPLACE FUNCTION pgcron._pushdown_in_flight() RETURNS integer
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.count(*)::integer FROM pgcron.submission t
     WHERE t.jobid IS NOT NULL AND t.outcome IS NULL AND t.job_removed_at IS NULL AND NOT t.top_level
       AND (t.jobid_reported OR EXISTS (SELECT 1 FROM cron.job j WHERE j.jobid = t.jobid))
$$;

-- The queue: submissions with neither a job nor a lane.
CREATE INDEX IF NOT EXISTS submission_admission_queue_idx ON pgcron.submission (submitted_by, id)
    WHERE via = 'job' AND jobid IS NULL AND NOT top_level AND claimed_at IS NULL AND finished_at IS NULL;

-- 3. Admission. ----------------------------------------------------------------------------------------------

-- Admit the caller's oldest queued submission (or p_id only) if the budget allows: returns what the entry
-- point needs to create the caller's own job, or no row. One admission at a time server-wide: the advisory
-- lock is held to the end of the caller's transaction, which binds the job, so the next admission counts it.
CREATE OR REPLACE FUNCTION pgcron._admission_take(p_role text, p_id bigint)
    RETURNS TABLE (id bigint, jobname text, schedule text, job_command text)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_role text := pgcron._verified_role(p_role);
    v_id bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pgcron.submission t
                    WHERE t.submitted_by = v_role AND t.via = 'job' AND t.jobid IS NULL AND NOT t.top_level
                      AND t.claimed_at IS NULL AND t.finished_at IS NULL) THEN
        RETURN;   -- nothing queued: no lock
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(1885823858, 7);   -- 'pgcr', admission
    IF pgcron._pushdown_in_flight() >= pgcron._pushdown_budget() THEN
        RETURN;
    END IF;
    SELECT t.id INTO v_id FROM pgcron.submission t
     WHERE t.submitted_by = v_role AND t.username = v_role AND t.database = pg_catalog.current_database()::text
       AND t.via = 'job' AND t.jobid IS NULL AND NOT t.top_level
       AND t.claimed_at IS NULL AND t.finished_at IS NULL AND t.cancel_requested_at IS NULL
       AND (p_id IS NULL OR t.id = p_id)
     ORDER BY t.id
     LIMIT 1
     FOR UPDATE SKIP LOCKED;
    IF v_id IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT v_id, 'pgcron:run:' || v_id::text,
        CASE WHEN pgcron.has_interval_schedules() THEN '1 seconds' ELSE '* * * * *' END,
        pg_catalog.format('CALL pgcron.execute_submission(%s)', v_id);
END $$;

-- Give the caller's queued submissions their jobs, oldest first, while the budget allows. SECURITY INVOKER:
-- each job is the caller's own, created with its own rights. Returns the submissions admitted and their jobs.
CREATE OR REPLACE FUNCTION pgcron.admit_queued(p_limit integer DEFAULT 100)
    RETURNS TABLE (submission_id bigint, jobid bigint)
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a record;
    v_jobid bigint;
    n integer := 0;
BEGIN
    WHILE n < least(coalesce(p_limit, 100), 1000) LOOP
        SELECT * INTO a FROM pgcron._admission_take(current_user::text, NULL);
        EXIT WHEN a.id IS NULL;
        v_jobid := cron.schedule(a.jobname, a.schedule, a.job_command);
        v_jobid := pgcron._submission_bind(current_user::text, a.id, v_jobid);
        n := n + 1;
        submission_id := a.id;
        jobid := v_jobid;
        RETURN NEXT;
    END LOOP;
END $$;

-- 4. Submitting: 0006's routing, then admission for the caller's own same-database submissions. ------------

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
    l record;
    v_jobid bigint;
BEGIN
    PERFORM pgcron.tidy_own();
    SELECT * INTO o FROM pgcron._submission_open(current_user::text, p_command, p_key, p_database, p_username,
                                                 p_timeout, p_top_level);
    IF o.reattached THEN
        RETURN QUERY SELECT o.id, o.jobid, true;
        RETURN;
    END IF;
    SELECT * INTO l FROM pgcron._submission_to_lane(current_user::text, o.id);
    IF l.routed THEN
        IF l.wake_pid IS NOT NULL THEN
            -- With the caller's rights: the worker is the caller's own backend, chosen and locked by the engine.
            PERFORM pg_cancel_backend(l.wake_pid);
        END IF;
        RETURN QUERY SELECT o.id, NULL::bigint, false;
        RETURN;
    END IF;
    IF o.database = current_database() AND o.username = current_user::text
       AND o.job_command = format('CALL pgcron.execute_submission(%s)', o.id) THEN
        -- Oldest first: this role's earlier queued submissions, then (budget allowing) this one.
        PERFORM pgcron.admit_queued();
        SELECT t.jobid INTO v_jobid FROM pgcron.submission t WHERE t.id = o.id;
        RETURN QUERY SELECT o.id, v_jobid, false;   -- jobid NULL: queued
        RETURN;
    END IF;
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

-- A lane submission its lane did not take joins the queue (0006 gave it a job at once).
CREATE OR REPLACE FUNCTION pgcron.lane_fallback(p_id bigint) RETURNS boolean
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o record;
BEGIN
    SELECT * INTO o FROM pgcron._lane_unroute(current_user::text, p_id);
    IF o.jobname IS NULL THEN
        RETURN false;
    END IF;
    PERFORM pgcron.admit_queued();
    RETURN true;
END $$;

-- 5. What the engine and doctor report. ---------------------------------------------------------------------

-- The caller may see the budget, how much of it is used and how long the queue is (counts only).
CREATE OR REPLACE FUNCTION pgcron.admission_status()
    RETURNS TABLE (slot_cap integer, slot_cap_source text, slot_reserve integer, lane_workers integer,
                   budget integer, in_flight integer, queued integer, queued_own integer)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT pgcron._slot_cap(),
           (pgcron._slot_cap_source()).source,
           greatest(pgcron._config_int('pushdown_slot_reserve', 2), 0),
           coalesce((SELECT pg_catalog.sum(c.workers) FROM pgcron.lane_config c), 0)::integer,
           pgcron._pushdown_budget(),
           pgcron._pushdown_in_flight(),
           (SELECT pg_catalog.count(*)::integer FROM pgcron.submission t
             WHERE t.via = 'job' AND t.jobid IS NULL AND NOT t.top_level AND t.claimed_at IS NULL
               AND t.finished_at IS NULL),
           (SELECT pg_catalog.count(*)::integer FROM pgcron.submission t
             WHERE t.submitted_by = session_user::text AND t.via = 'job' AND t.jobid IS NULL AND NOT t.top_level
               AND t.claimed_at IS NULL AND t.finished_at IS NULL)
$$;

-- 6. Who may execute what. -----------------------------------------------------------------------------------

REVOKE ALL ON FUNCTION pgcron._slot_cap(), pgcron._slot_cap_source(), pgcron._pushdown_budget(), pgcron._pushdown_in_flight(),
                       pgcron._config_int(text, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgcron._admission_take(text, bigint), pgcron.admit_queued(integer),
                          pgcron.admission_status()
    TO PUBLIC;
