-- pgcron engine migration 0002: pushdown runs ("run this SQL inside Postgres now", exactly once per key).
--
-- Design (docs/adr/0002-pushdown-exactly-once.md): a submission row and a temporary pg_cron job are created in
-- one transaction; the job's command is CALL pgcron.execute_submission(id), which claims the row and COMMITs
-- the claim before it executes the user's SQL, so every later firing of the job finds the claim and runs
-- nothing. Statements that must run at top level get a verbatim job on a cron minute that occurs once.
-- pgcron.maintenance() (job 'pgcron:maintenance') enforces timeouts, marks lost runs and removes temporary jobs.
--
-- Runs in the database named by cron.database_name, as the role that owns the engine schema. Re-running it is
-- harmless (IF NOT EXISTS / OR REPLACE / same-name upsert of the maintenance job).

CREATE SCHEMA IF NOT EXISTS pgcron;

CREATE TABLE IF NOT EXISTS pgcron.submission (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key           text NOT NULL UNIQUE,
    command       text NOT NULL,
    database      text NOT NULL,
    username      text NOT NULL,
    submitted_by  text NOT NULL DEFAULT current_user,
    top_level     boolean NOT NULL DEFAULT false,     -- scheduled verbatim on a one-shot cron minute
    timeout       interval,                           -- execution limit counted from the start of the run
    jobid         bigint,
    jobname       text,
    submitted_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    start_by      timestamptz NOT NULL,               -- not started by then: expired, never runs
    claimed_at    timestamptz,
    claimed_pid   integer,                            -- = cron.job_run_details.job_pid of the claimed run
    runid         bigint,                             -- the claimed run, once maintenance has resolved it
    finished_at   timestamptz,
    outcome       text CHECK (outcome IN ('succeeded', 'failed', 'canceled', 'timed_out', 'lost', 'expired')),
    rows          bigint,
    sqlstate      text,
    error         text,
    cancel_requested_at timestamptz,
    timed_out_at  timestamptz,
    job_removed_at timestamptz
);
-- Every run of a submission's job has a runid above the sequence's value at submit time: lets the state query
-- read cron.job_run_details through its primary key (a short range of recent rows) instead of scanning it all.
ALTER TABLE pgcron.submission ADD COLUMN IF NOT EXISTS runid_floor bigint NOT NULL DEFAULT 0;
ALTER TABLE pgcron.submission ADD COLUMN IF NOT EXISTS noop_rows_purged boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS submission_open_idx ON pgcron.submission (id) WHERE job_removed_at IS NULL;
CREATE INDEX IF NOT EXISTS submission_jobid_idx ON pgcron.submission (jobid);

-- Every role may submit; a role sees and changes only its own submissions (and those whose job runs as it).
-- The engine owner (maintenance) is the table owner and is not subject to the policy.
ALTER TABLE pgcron.submission ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS submission_own ON pgcron.submission;
CREATE POLICY submission_own ON pgcron.submission
    USING (current_user IN (submitted_by, username))
    WITH CHECK (current_user IN (submitted_by, username));
GRANT USAGE ON SCHEMA pgcron TO PUBLIC;
GRANT SELECT, INSERT, UPDATE ON pgcron.submission TO PUBLIC;

-- cron.timezone is superuser-only to read (facts §6); the one-shot minute must be expressed in it.
CREATE OR REPLACE FUNCTION pgcron.cron_timezone() RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    RETURN coalesce(nullif(current_setting('cron.timezone', true), ''), 'GMT');
EXCEPTION WHEN OTHERS THEN
    RETURN 'GMT';
END $$;
GRANT EXECUTE ON FUNCTION pgcron.cron_timezone() TO PUBLIC;

-- True when the installed pg_cron accepts 'N seconds' schedules (1.5+).
CREATE OR REPLACE FUNCTION pgcron.has_interval_schedules() RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT coalesce((SELECT string_to_array(split_part(extversion, '-', 1), '.')::int[] >= '{1,5}'
                       FROM pg_extension WHERE extname = 'pg_cron'), false)
$$;

-- Create (or re-attach to) the submission with this key. One transaction: the row and the temporary job exist
-- together or not at all. Re-submitting a key with a different command raises SQLSTATE PGC01.
CREATE OR REPLACE FUNCTION pgcron.submit(
    p_command   text,
    p_key       text DEFAULT NULL,
    p_database  text DEFAULT NULL,
    p_username  text DEFAULT NULL,
    p_timeout   interval DEFAULT NULL,
    p_top_level boolean DEFAULT false
) RETURNS TABLE (submission_id bigint, jobid bigint, reattached boolean)
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v_db   text := coalesce(p_database, current_database());
    v_user text := coalesce(p_username, current_user::text);
    v_key  text := coalesce(p_key, gen_random_uuid()::text);
    v_once boolean := p_top_level OR v_db <> current_database();
    v_tz   text;
    v_at   timestamp;
    s      pgcron.submission;
    v_schedule text;
    v_command  text;
    v_floor    bigint;
BEGIN
    IF v_once THEN
        -- One cron minute that occurs once a year; skip a minute when too close to the boundary for the
        -- launcher (which re-reads cron.job about once a second) to see the job in time.
        v_tz := pgcron.cron_timezone();
        v_at := date_trunc('minute', clock_timestamp() AT TIME ZONE v_tz)
                + CASE WHEN extract(second FROM clock_timestamp()) >= 55 THEN interval '2 minutes'
                       ELSE interval '1 minute' END;
    END IF;

    BEGIN
        v_floor := (SELECT last_value FROM cron.runid_seq);   -- SELECT granted to PUBLIC since pg_cron 1.4.2
    EXCEPTION WHEN insufficient_privilege THEN
        v_floor := 0;
    END;

    INSERT INTO pgcron.submission AS t (key, command, database, username, top_level, timeout, runid_floor,
                                        start_by)
    VALUES (v_key, p_command, v_db, v_user, v_once, p_timeout,
            v_floor,
            CASE WHEN v_once THEN (v_at AT TIME ZONE v_tz) + interval '3 minutes'
                 ELSE clock_timestamp() + interval '10 minutes' END)
    ON CONFLICT (key) DO NOTHING
    RETURNING * INTO s;

    IF NOT FOUND THEN
        SELECT * INTO s FROM pgcron.submission t WHERE t.key = v_key;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'PGC02',
                MESSAGE = format('submission key %L belongs to another role', v_key),
                HINT = 'Use a different key.';
        END IF;
        IF s.command <> p_command OR s.database <> v_db OR s.username <> v_user THEN
            RAISE EXCEPTION USING ERRCODE = 'PGC01',
                MESSAGE = format('submission key %L was already used for a different command, database or user',
                                 v_key),
                HINT = 'Use a new key for a different command, or attach to the existing submission.';
        END IF;
        RETURN QUERY SELECT s.id, s.jobid, true;
        RETURN;
    END IF;

    IF v_once THEN
        v_schedule := format('%s %s %s %s *', extract(minute FROM v_at)::int, extract(hour FROM v_at)::int,
                             extract(day FROM v_at)::int, extract(month FROM v_at)::int);
        v_command := p_command;
    ELSE
        v_schedule := CASE WHEN pgcron.has_interval_schedules() THEN '1 seconds' ELSE '* * * * *' END;
        v_command := format('CALL pgcron.execute_submission(%s)', s.id);
    END IF;

    s.jobname := 'pgcron:run:' || s.id;
    -- schedule_in_database is revoked from PUBLIC (pg_cron 1.4+): use it only when another database or user
    -- is asked for, which needs a superuser (or an explicit grant) anyway.
    IF v_db = current_database() AND v_user = current_user THEN
        s.jobid := cron.schedule(s.jobname, v_schedule, v_command);
    ELSE
        s.jobid := cron.schedule_in_database(s.jobname, v_schedule, v_command, v_db, v_user);
    END IF;
    UPDATE pgcron.submission t SET jobid = s.jobid, jobname = s.jobname WHERE t.id = s.id;
    RETURN QUERY SELECT s.id, s.jobid, false;
END $$;
GRANT EXECUTE ON FUNCTION pgcron.submit(text, text, text, text, interval, boolean) TO PUBLIC;

-- The command of every temporary job of the procedure path. Claim, neutralise, COMMIT, then execute.
-- No SET clause (a procedure with one cannot COMMIT), so every name is schema-qualified; the user's SQL runs
-- with the session's own search_path, exactly as a plain pg_cron job would.
CREATE OR REPLACE PROCEDURE pgcron.execute_submission(p_id bigint)
    LANGUAGE plpgsql AS $$
DECLARE
    s        pgcron.submission;
    n        bigint;
    e_msg    text;
    e_state  text;
    e_detail text;
    e_hint   text;
    v_outcome text;
BEGIN
    -- The guard: only the first firing finds claimed_at NULL. A concurrent firing blocks on the row lock and
    -- then finds the row claimed.
    UPDATE pgcron.submission t
       SET claimed_at = clock_timestamp(), claimed_pid = pg_catalog.pg_backend_pid()
     WHERE t.id = p_id AND t.claimed_at IS NULL AND t.finished_at IS NULL AND t.cancel_requested_at IS NULL
    RETURNING * INTO s;
    IF NOT FOUND THEN
        RETURN;   -- a repeat firing (or a canceled/expired submission): run nothing
    END IF;

    -- Neutralise the schedule so the job stops firing (a pending firing may still come: it finds the claim).
    -- A same-name upsert (cron.alter_job is revoked from PUBLIC) to 31 February, which never comes.
    -- Measured: neither form cancels or stops the current run, in either execution mode.
    BEGIN
        PERFORM cron.schedule(s.jobname, '0 0 31 2 *', pg_catalog.format('CALL pgcron.execute_submission(%s)', p_id));
    EXCEPTION WHEN OTHERS THEN
        NULL;   -- the claim alone is the guard; maintenance removes the job
    END;
    COMMIT;   -- the claim is durable before the user's SQL starts: a failure cannot roll it back

    BEGIN
        EXECUTE s.command;
        GET DIAGNOSTICS n = ROW_COUNT;
    EXCEPTION
        WHEN query_canceled THEN   -- not covered by OTHERS: cancel() and the timeout watchdog land here
            GET STACKED DIAGNOSTICS e_msg = MESSAGE_TEXT, e_state = RETURNED_SQLSTATE;
        WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS e_msg = MESSAGE_TEXT, e_state = RETURNED_SQLSTATE,
                                    e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
    END;

    -- FOR UPDATE waits for a cancel_submission() or watchdog transaction that signalled us and still holds
    -- the row, so its cancel_requested_at / timed_out_at is seen.
    SELECT * INTO s FROM pgcron.submission t WHERE t.id = p_id FOR UPDATE;
    v_outcome := CASE WHEN e_state IS NULL THEN 'succeeded'
                      WHEN e_state = '57014' AND s.timed_out_at IS NOT NULL THEN 'timed_out'
                      WHEN e_state = '57014' AND s.cancel_requested_at IS NOT NULL THEN 'canceled'
                      ELSE 'failed' END;
    IF v_outcome = 'timed_out' THEN
        e_msg := format('pgcron: the run exceeded its timeout of %s and was canceled', s.timeout);
    END IF;
    UPDATE pgcron.submission t
       SET finished_at = clock_timestamp(), outcome = v_outcome, rows = n, sqlstate = e_state, error = e_msg
     WHERE t.id = p_id;
    COMMIT;   -- the user's work and its outcome commit together

    -- Re-raise so pg_cron records the run as failed with the database's own message.
    IF e_state IS NOT NULL THEN
        IF e_detail <> '' AND e_hint <> '' THEN
            RAISE EXCEPTION USING MESSAGE = e_msg, ERRCODE = e_state, DETAIL = e_detail, HINT = e_hint;
        ELSIF e_detail <> '' THEN
            RAISE EXCEPTION USING MESSAGE = e_msg, ERRCODE = e_state, DETAIL = e_detail;
        ELSIF e_hint <> '' THEN
            RAISE EXCEPTION USING MESSAGE = e_msg, ERRCODE = e_state, HINT = e_hint;
        ELSE
            RAISE EXCEPTION USING MESSAGE = e_msg, ERRCODE = e_state;
        END IF;
    END IF;
END $$;
GRANT EXECUTE ON PROCEDURE pgcron.execute_submission(bigint) TO PUBLIC;

-- Stop a submission: before it starts it will never run; while it runs its statement is canceled.
-- Returns 'not_started', 'signaled', 'finished' (too late) or 'not_running' (claimed but the backend is gone).
CREATE OR REPLACE FUNCTION pgcron.cancel_submission(p_id bigint) RETURNS text
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    s pgcron.submission;
    v_pid integer;
    v_ok boolean;
BEGIN
    UPDATE pgcron.submission t SET cancel_requested_at = coalesce(t.cancel_requested_at, clock_timestamp())
     WHERE t.id = p_id RETURNING * INTO s;   -- row lock: a firing that has not claimed yet will see the request
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PGC03', MESSAGE = format('no submission with id %s', p_id);
    END IF;
    IF s.finished_at IS NOT NULL THEN
        RETURN 'finished';
    END IF;
    IF s.top_level THEN
        SELECT d.job_pid INTO v_pid FROM cron.job_run_details d
         WHERE d.jobid = s.jobid AND d.status NOT IN ('succeeded', 'failed') ORDER BY d.runid DESC LIMIT 1;
        IF v_pid IS NULL THEN
            IF EXISTS (SELECT 1 FROM cron.job_run_details d WHERE d.jobid = s.jobid) THEN
                RETURN 'finished';
            END IF;
            -- not started: removing the job guarantees it never fires
            PERFORM cron.unschedule(s.jobid);
            UPDATE pgcron.submission t SET finished_at = clock_timestamp(), outcome = 'canceled',
                   error = 'canceled before it started', job_removed_at = clock_timestamp()
             WHERE t.id = p_id;
            RETURN 'not_started';
        END IF;
        v_ok := pg_cancel_backend(v_pid);
        RETURN CASE WHEN v_ok THEN 'signaled' ELSE 'not_running' END;
    END IF;
    IF s.claimed_at IS NULL THEN
        UPDATE pgcron.submission t SET finished_at = clock_timestamp(), outcome = 'canceled',
               error = 'canceled before it started'
         WHERE t.id = p_id;
        RETURN 'not_started';   -- maintenance removes the job
    END IF;
    SELECT a.pid INTO v_pid FROM pg_stat_activity a
     WHERE a.pid = s.claimed_pid AND a.backend_start <= s.claimed_at;
    IF v_pid IS NULL THEN
        RETURN 'not_running';
    END IF;
    v_ok := pg_cancel_backend(v_pid);
    RETURN CASE WHEN v_ok THEN 'signaled' ELSE 'not_running' END;
END $$;
GRANT EXECUTE ON FUNCTION pgcron.cancel_submission(bigint) TO PUBLIC;

-- The engine's maintenance pass (job 'pgcron:maintenance'). Each step commits on its own so that locks are short
-- and pg_stat_activity (cached per transaction) is fresh.
CREATE OR REPLACE PROCEDURE pgcron.maintenance()
    LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    -- 1. Watchdog: cancel procedure-path runs past their deadline.
    FOR r IN
        SELECT s.id, s.claimed_pid, s.claimed_at FROM pgcron.submission s
         WHERE s.finished_at IS NULL AND s.claimed_at IS NOT NULL AND s.timeout IS NOT NULL
           AND s.claimed_at + s.timeout < clock_timestamp()
    LOOP
        UPDATE pgcron.submission t SET timed_out_at = coalesce(t.timed_out_at, clock_timestamp())
         WHERE t.id = r.id AND t.finished_at IS NULL;
        COMMIT;
        PERFORM pg_catalog.pg_cancel_backend(a.pid) FROM pg_catalog.pg_stat_activity a
         WHERE a.pid = r.claimed_pid AND a.backend_start <= r.claimed_at;
    END LOOP;
    COMMIT;

    -- 2. Watchdog for top-level runs (no procedure around them): cancel the job's backend past the deadline.
    FOR r IN
        SELECT s.id, d.job_pid FROM pgcron.submission s
          JOIN cron.job_run_details d ON d.jobid = s.jobid
         WHERE s.top_level AND s.finished_at IS NULL AND s.timeout IS NOT NULL
           AND d.status IN ('starting', 'connecting', 'sending', 'running')
           AND d.start_time + s.timeout < clock_timestamp() AND d.job_pid IS NOT NULL
    LOOP
        UPDATE pgcron.submission t SET timed_out_at = coalesce(t.timed_out_at, clock_timestamp())
         WHERE t.id = r.id;
        PERFORM pg_catalog.pg_cancel_backend(r.job_pid);
    END LOOP;
    COMMIT;

    -- 3. Lost: claimed, never finished, and its backend is gone (server restart, terminated worker).
    --    UPDATE re-checks finished_at on the newest row version, so a run that finished meanwhile is kept.
    UPDATE pgcron.submission t
       SET finished_at = clock_timestamp(), outcome = 'lost',
           error = 'the run ended without recording an outcome (server restart or terminated backend)'
     WHERE t.finished_at IS NULL AND NOT t.top_level AND t.claimed_pid IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                        WHERE a.pid = t.claimed_pid AND a.backend_start <= t.claimed_at);
    COMMIT;

    -- 4. Top-level submissions: record the outcome of their single run from cron.job_run_details.
    UPDATE pgcron.submission t
       SET finished_at = coalesce(d.end_time, clock_timestamp()), claimed_at = d.start_time,
           claimed_pid = d.job_pid, runid = d.runid,
           outcome = CASE WHEN d.status = 'succeeded' THEN 'succeeded'
                          WHEN t.timed_out_at IS NOT NULL THEN 'timed_out'
                          WHEN t.cancel_requested_at IS NOT NULL THEN 'canceled'
                          ELSE 'failed' END,
           error = CASE WHEN d.status = 'failed' THEN d.return_message END
      FROM cron.job_run_details d
     WHERE t.top_level AND t.finished_at IS NULL AND d.jobid = t.jobid AND d.status IN ('succeeded', 'failed');
    COMMIT;

    -- 5. Expired: never started within the window (bgw slots exhausted, a role that cannot log in, a missed
    --    minute after a launcher restart). The job is removed below, so the SQL never runs.
    UPDATE pgcron.submission t
       SET finished_at = clock_timestamp(), outcome = 'expired',
           error = 'the run did not start before ' || t.start_by::text
     WHERE t.finished_at IS NULL AND t.claimed_at IS NULL AND t.start_by < clock_timestamp()
       AND NOT (t.top_level AND EXISTS (SELECT 1 FROM cron.job_run_details d WHERE d.jobid = t.jobid));
    COMMIT;

    -- 6. Remember which run row is the claimed run (the record of truth) while it is still easy to find.
    UPDATE pgcron.submission t SET runid = d.runid
      FROM cron.job_run_details d
     WHERE t.runid IS NULL AND t.claimed_pid IS NOT NULL AND NOT t.top_level
       AND d.jobid = t.jobid AND d.job_pid = t.claimed_pid;
    COMMIT;

    -- 7. Remove temporary jobs of finished submissions once their run is really over: the claimed backend is
    --    gone and the claimed run row is terminal (unscheduling earlier would cancel it and falsify its row).
    --    One short transaction per job: the launcher writes cron.job_run_details synchronously, and a long
    --    transaction here would stall it (and, in libpq mode, time out every connection it has in flight).
    FOR r IN
        SELECT s.id, s.jobid FROM pgcron.submission s
         WHERE s.job_removed_at IS NULL AND s.finished_at IS NOT NULL
           AND (s.claimed_pid IS NULL
                OR (NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                                 WHERE a.pid = s.claimed_pid AND a.backend_start <= s.claimed_at)
                    AND (NOT EXISTS (SELECT 1 FROM cron.job_run_details d
                                      WHERE d.jobid = s.jobid AND d.job_pid = s.claimed_pid
                                        AND d.runid > s.runid_floor
                                        AND d.status NOT IN ('succeeded', 'failed'))
                         OR s.outcome = 'lost')))
         ORDER BY s.id
         LIMIT 200
    LOOP
        IF r.jobid IS NOT NULL AND EXISTS (SELECT 1 FROM cron.job j WHERE j.jobid = r.jobid) THEN
            PERFORM cron.unschedule(r.jobid);
        END IF;
        UPDATE pgcron.submission t SET job_removed_at = clock_timestamp() WHERE t.id = r.id;
        COMMIT;
    END LOOP;

    -- 7b. Repeat firings ran nothing (they found the claim): delete their rows so the job's history holds exactly
    --     the one run that executed the SQL. Only terminal rows of jobs removed a while ago, which the launcher
    --     no longer writes: never hold a row lock it may wait for.
    FOR r IN
        SELECT s.id, s.jobid, s.claimed_pid, s.runid_floor FROM pgcron.submission s
         WHERE NOT s.top_level AND NOT s.noop_rows_purged AND s.claimed_pid IS NOT NULL
           AND s.job_removed_at < clock_timestamp() - interval '10 seconds'
         ORDER BY s.id
         LIMIT 200
    LOOP
        DELETE FROM cron.job_run_details d
         WHERE d.jobid = r.jobid AND d.runid > r.runid_floor AND d.job_pid IS DISTINCT FROM r.claimed_pid
           AND d.status IN ('succeeded', 'failed');
        UPDATE pgcron.submission t SET noop_rows_purged = true WHERE t.id = r.id;
        COMMIT;
    END LOOP;

    -- 8. Purge the maintenance job's own successful run rows (it runs every few seconds).
    DELETE FROM cron.job_run_details d
     USING cron.job j
     WHERE j.jobname = 'pgcron:maintenance' AND d.jobid = j.jobid AND d.status = 'succeeded'
       AND d.end_time < clock_timestamp() - interval '10 minutes';
    COMMIT;
END $$;

-- Install the maintenance job (same-name upsert keeps its jobid when re-run).
SELECT cron.schedule('pgcron:maintenance',
                     CASE WHEN pgcron.has_interval_schedules() THEN '5 seconds' ELSE '* * * * *' END,
                     'CALL pgcron.maintenance()');
