-- pgcron engine migration 0006: lanes (docs/adr/0006-lanes.md).
--
-- A lane is an opt-in set of long-running pg_cron jobs `pgcron:lane:<n>` OWNED BY ONE ROLE, each running
-- `CALL pgcron.lane_run(<n>)`: a loop that claims that role's pending submissions for pg_cron's database, commits
-- the claim, runs the SQL with exactly that role's rights, records the outcome with the SQL in one commit, and
-- sleeps adaptively when idle. It ends its run after a bounded period and pg_cron (an interval schedule) starts it
-- again, so its history stays small; maintenance purges those run rows.
--
-- The rules of 0004 hold: callers write no table; definer functions derive the role (session_user or a verified
-- role), the backend pid and every time themselves; the procedure has no SET clause and only calls
-- schema-qualified pgcron.* functions, with no operators. Runs in cron.database_name as the engine owner.

-- 1. Submissions: which path ran them. --------------------------------------------------------------------

ALTER TABLE pgcron.submission ADD COLUMN IF NOT EXISTS via text NOT NULL DEFAULT 'job';
ALTER TABLE pgcron.submission DROP CONSTRAINT IF EXISTS submission_via_check;
ALTER TABLE pgcron.submission ADD CONSTRAINT submission_via_check CHECK (via IN ('job', 'lane'));
ALTER TABLE pgcron.submission ADD COLUMN IF NOT EXISTS lane_worker integer;         -- the worker that claimed it
ALTER TABLE pgcron.submission ADD COLUMN IF NOT EXISTS lane_fallback_at timestamptz; -- routed to a lane, then
                                                                                   -- given its own job
-- The lane's queue: only unclaimed lane rows, so an idle poll reads an empty index.
CREATE INDEX IF NOT EXISTS submission_lane_queue_idx ON pgcron.submission (username, database, id)
    WHERE via = 'lane' AND claimed_at IS NULL AND finished_at IS NULL;

-- 2. Lanes: what the role asked for, and what each worker reports. -----------------------------------------

CREATE TABLE IF NOT EXISTS pgcron.lane_config (
    role       text NOT NULL,
    database   text NOT NULL,
    workers    integer NOT NULL CHECK (workers BETWEEN 0 AND 32),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (role, database)
);
CREATE TABLE IF NOT EXISTS pgcron.lane_worker (
    role           text NOT NULL,
    database       text NOT NULL,
    worker         integer NOT NULL,
    pid            integer,                 -- the worker's backend (pg_backend_pid() of its pg_cron run)
    backend_start  timestamptz,             -- with pid: the backend, not a later one that reuses the pid
    run_started_at timestamptz,
    run_until      timestamptz,             -- the run ends itself then; pg_cron starts the next one
    heartbeat_at   timestamptz,
    state          text NOT NULL DEFAULT 'idle' CHECK (state IN ('idle', 'busy', 'sleeping', 'restarting', 'stopped')),
    submission_id  bigint,                  -- the submission it runs now
    last_claim_at  timestamptz,
    served         bigint NOT NULL DEFAULT 0,
    runs           bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (role, database, worker)
);
REVOKE ALL ON pgcron.lane_config, pgcron.lane_worker FROM PUBLIC;
GRANT SELECT ON pgcron.lane_config, pgcron.lane_worker TO PUBLIC;
ALTER TABLE pgcron.lane_config ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgcron.lane_worker ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS lane_config_read_own ON pgcron.lane_config;
CREATE POLICY lane_config_read_own ON pgcron.lane_config FOR SELECT USING (role = current_user);
DROP POLICY IF EXISTS lane_worker_read_own ON pgcron.lane_worker;
CREATE POLICY lane_worker_read_own ON pgcron.lane_worker FOR SELECT USING (role = current_user);

INSERT INTO pgcron.config (name, value, description) VALUES
    ('lane_period', '60 seconds', 'a lane worker ends its pg_cron run after this long; pg_cron starts it again'),
    ('lane_idle_sleep', '1 second',
     'a dozing lane worker looks at its queue at least this often (submitters wake it at once)'),
    ('lane_fallback_after', '2 seconds',
     'a lane submission not claimed this long, while its lane claimed nothing either, gets its own job')
ON CONFLICT (name) DO NOTHING;

-- 3. Liveness. ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION pgcron._lane_alive(p_pid integer, p_backend_start timestamptz, p_role text)
    RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    -- backend_start is NULL where the viewer may not see another role's backend details (0005): then the pid
    -- and its role are all there is to go by.
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                    WHERE a.pid = p_pid AND a.usename = p_role
                      AND (a.backend_start IS NULL OR p_backend_start IS NULL
                           OR a.backend_start = p_backend_start))
$$;

-- A lane can take a submission now: one of its wanted workers is alive and reported within 3 s (idle workers
-- beat at least every lane_idle_sleep; a busy one at every claim and finish), or has just ended its run and is being
-- restarted by pg_cron.
CREATE OR REPLACE FUNCTION pgcron._lane_available(p_role text, p_database text) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM pgcron.lane_worker w
          JOIN pgcron.lane_config c ON c.role = w.role AND c.database = w.database
         WHERE w.role = p_role AND w.database = p_database AND w.worker <= c.workers
           AND w.heartbeat_at > clock_timestamp() - interval '3 seconds'
           AND (w.state = 'restarting'
                OR (w.state IN ('idle', 'busy', 'sleeping')
                    AND pgcron._lane_alive(w.pid, w.backend_start, w.role))))
$$;

-- The lane made no progress: none of its workers claimed anything for lane_fallback_after.
CREATE OR REPLACE FUNCTION pgcron._lane_stalled(p_role text, p_database text) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT NOT EXISTS (
        SELECT 1 FROM pgcron.lane_worker w
         WHERE w.role = p_role AND w.database = p_database
           AND w.last_claim_at > clock_timestamp()
                                 - pgcron._config_interval('lane_fallback_after', interval '2 seconds')
           AND pgcron._lane_alive(w.pid, w.backend_start, w.role))
$$;

-- 4. Routing a submission (called by pgcron.submit in the submitting transaction). --------------------------

-- Route a just-opened submission to the caller's lane when one is available: it then gets no job of its own.
-- Only the caller's own new row, to run as the caller in this database, not top-level and not bound to a job.
-- wake_pid: a dozing worker of the lane to wake, locked here until the submitting transaction ends (see
-- pgcron.lane_run); the entry point signals it with the caller's own rights. `SET pgcron.lanes = off` keeps a
-- session's submissions on the per-submission job path.
CREATE OR REPLACE FUNCTION pgcron._submission_to_lane(p_role text, p_id bigint)
    RETURNS TABLE (routed boolean, wake_pid integer)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_role text := pgcron._verified_role(p_role);
    v_db text := current_database()::text;
    w pgcron.lane_worker;
BEGIN
    IF coalesce(current_setting('pgcron.lanes', true), '') IN ('off', 'false', '0')
       OR NOT pgcron._lane_available(v_role, v_db) THEN
        RETURN QUERY SELECT false, NULL::integer;
        RETURN;
    END IF;
    UPDATE pgcron.submission t SET via = 'lane'
     WHERE t.id = p_id AND t.submitted_by = v_role AND t.username = v_role
       AND t.database = v_db AND NOT t.top_level AND t.via = 'job' AND t.jobid IS NULL
       AND t.claimed_at IS NULL AND t.finished_at IS NULL;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, NULL::integer;
        RETURN;
    END IF;
    -- An awake idle worker looks at the queue within milliseconds; otherwise wake a dozing one.
    IF NOT EXISTS (SELECT 1 FROM pgcron.lane_worker x
                    WHERE x.role = v_role AND x.database = v_db AND x.state = 'idle'
                      AND pgcron._lane_alive(x.pid, x.backend_start, x.role)) THEN
        SELECT * INTO w FROM pgcron.lane_worker x
         WHERE x.role = v_role AND x.database = v_db AND x.state = 'sleeping'
         ORDER BY x.worker LIMIT 1
         FOR UPDATE SKIP LOCKED;
        IF w.pid IS NOT NULL AND pgcron._lane_alive(w.pid, w.backend_start, w.role) THEN
            RETURN QUERY SELECT true, w.pid;
            RETURN;
        END IF;
    END IF;
    RETURN QUERY SELECT true, NULL::integer;
END $$;

-- Give a lane submission that its lane did not take its own job, atomically: the row lock excludes the lane's
-- claim (FOR UPDATE SKIP LOCKED skips it; a claim that committed first is seen and nothing happens), and
-- via = 'job' committed with the job's binding means no lane can claim it afterwards. Returns what the entry
-- point needs to create the caller's own job, or no row (claimed, finished, too early, or the lane progresses).
CREATE OR REPLACE FUNCTION pgcron._lane_unroute(p_role text, p_id bigint)
    RETURNS TABLE (jobname text, schedule text, job_command text)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_role text := pgcron._verified_role(p_role);
    s pgcron.submission;
BEGIN
    SELECT * INTO s FROM pgcron.submission t WHERE t.id = p_id AND t.submitted_by = v_role FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PGC03', MESSAGE = format('no submission with id %s', p_id);
    END IF;
    IF s.via <> 'lane' OR s.claimed_at IS NOT NULL OR s.finished_at IS NOT NULL
       OR s.cancel_requested_at IS NOT NULL OR s.jobid IS NOT NULL THEN
        RETURN;
    END IF;
    IF s.submitted_at > clock_timestamp() - pgcron._config_interval('lane_fallback_after', interval '2 seconds')
       OR NOT pgcron._lane_stalled(s.username, s.database) THEN
        RETURN;
    END IF;
    UPDATE pgcron.submission t SET via = 'job', lane_fallback_at = clock_timestamp() WHERE t.id = p_id;
    RETURN QUERY SELECT 'pgcron:run:' || s.id::text,
        CASE WHEN pgcron.has_interval_schedules() THEN '1 seconds' ELSE '* * * * *' END,
        format('CALL pgcron.execute_submission(%s)', s.id);
END $$;

-- The fallback entry point (the waiting client calls it): true when the submission got its own job now.
CREATE OR REPLACE FUNCTION pgcron.lane_fallback(p_id bigint) RETURNS boolean
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o record;
    v_jobid bigint;
BEGIN
    SELECT * INTO o FROM pgcron._lane_unroute(current_user::text, p_id);
    IF o.jobname IS NULL THEN
        RETURN false;
    END IF;
    v_jobid := cron.schedule(o.jobname, o.schedule, o.job_command);   -- the caller's own job, as in submit
    PERFORM pgcron._submission_bind(current_user::text, p_id, v_jobid);
    RETURN true;
END $$;

-- submit (0005) with routing: same signature and result; a lane submission has no job (jobid NULL).
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

-- 5. The lane worker. ------------------------------------------------------------------------------------

-- Register this backend as worker p_worker of session_user's lane in this database. go = false when the
-- worker is not wanted (beyond lane_config.workers) or another live backend already is that worker.
CREATE OR REPLACE FUNCTION pgcron._lane_begin(p_worker integer)
    RETURNS TABLE (go boolean, run_until timestamptz)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_role text := session_user::text;
    v_db text := current_database()::text;
    v_now timestamptz := clock_timestamp();
    v_wanted integer;
    v_period interval := pgcron._config_interval('lane_period', interval '60 seconds');
    v_stmt interval := current_setting('statement_timeout')::interval;
    w pgcron.lane_worker;
BEGIN
    IF p_worker IS NULL OR p_worker < 1 OR p_worker > 32 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('pgcron: lane worker must be 1 to 32, got %s', p_worker);
    END IF;
    SELECT c.workers INTO v_wanted FROM pgcron.lane_config c WHERE c.role = v_role AND c.database = v_db;
    SELECT * INTO w FROM pgcron.lane_worker x
     WHERE x.role = v_role AND x.database = v_db AND x.worker = p_worker FOR UPDATE;
    IF coalesce(v_wanted, 0) < p_worker
       OR (w.pid IS NOT NULL AND w.pid <> pg_backend_pid() AND w.state IN ('idle', 'busy', 'sleeping')
           AND pgcron._lane_alive(w.pid, w.backend_start, w.role)) THEN
        RETURN QUERY SELECT false, v_now;
        RETURN;
    END IF;
    -- A role's statement_timeout covers the whole CALL (both modes): end the run well before it.
    IF v_stmt > interval '0' THEN
        v_period := least(v_period, greatest(v_stmt - interval '2 seconds', v_stmt / 2));
    END IF;
    INSERT INTO pgcron.lane_worker AS t (role, database, worker, pid, backend_start, run_started_at, run_until,
                                         heartbeat_at, state, submission_id, runs)
    VALUES (v_role, v_db, p_worker, pg_backend_pid(),
            (SELECT a.backend_start FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_backend_pid()),
            v_now, v_now + v_period, v_now, 'idle', NULL, 1)
    ON CONFLICT (role, database, worker) DO UPDATE
       SET pid = excluded.pid, backend_start = excluded.backend_start, run_started_at = excluded.run_started_at,
           run_until = excluded.run_until, heartbeat_at = excluded.heartbeat_at, state = 'idle',
           submission_id = NULL, runs = t.runs + 1;
    RETURN QUERY SELECT true, v_now + v_period;
END $$;

-- Claim the oldest pending submission of session_user for this database (SKIP LOCKED: workers never wait for
-- each other) and mark the worker busy with it. Updating the worker's own row takes its row lock: a
-- submitter that is waking this worker holds it, so a wake-up signal can only land here, never in the SQL.
CREATE OR REPLACE FUNCTION pgcron._lane_claim(p_worker integer) RETURNS TABLE (id bigint, command text)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_role text := session_user::text;
    v_db text := current_database()::text;
    v_now timestamptz := clock_timestamp();
    v_id bigint;
    v_command text;
BEGIN
    UPDATE pgcron.submission t
       SET claimed_at = v_now, claimed_pid = pg_backend_pid(), lane_worker = p_worker
     WHERE t.id = (SELECT x.id FROM pgcron.submission x
                    WHERE x.via = 'lane' AND x.username = v_role AND x.database = v_db
                      AND x.claimed_at IS NULL AND x.finished_at IS NULL
                    ORDER BY x.id LIMIT 1
                    FOR UPDATE SKIP LOCKED)
       AND t.via = 'lane' AND t.username = v_role AND t.database = v_db AND t.claimed_at IS NULL
       AND t.finished_at IS NULL AND t.cancel_requested_at IS NULL AND t.jobid IS NULL AND NOT t.top_level
    RETURNING t.id, t.command INTO v_id, v_command;
    IF v_id IS NOT NULL THEN
        UPDATE pgcron.lane_worker w SET state = 'busy', submission_id = v_id, last_claim_at = v_now,
                                        heartbeat_at = v_now
         WHERE w.role = v_role AND w.database = v_db AND w.worker = p_worker AND w.pid = pg_backend_pid();
        RETURN QUERY SELECT v_id, v_command;
    END IF;
END $$;

-- Is this worker still wanted, and its run not over?
CREATE OR REPLACE FUNCTION pgcron._lane_wanted(p_worker integer, p_until timestamptz) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT clock_timestamp() < p_until
       AND coalesce((SELECT c.workers FROM pgcron.lane_config c
                      WHERE c.role = session_user::text AND c.database = current_database()::text), 0) >= p_worker
$$;

-- One turn while awake: claim, or (nothing to do) sleep 1, 2, 4, 8 ms; after those, doze = true.
-- Right after work (p_idle = 0) it also checks that the worker is still wanted.
CREATE OR REPLACE FUNCTION pgcron._lane_next(p_worker integer, p_idle integer, p_until timestamptz)
    RETURNS TABLE (id bigint, command text, go boolean, idle integer, doze boolean)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c record;
BEGIN
    IF clock_timestamp() >= p_until OR (p_idle = 0 AND NOT pgcron._lane_wanted(p_worker, p_until)) THEN
        RETURN QUERY SELECT NULL::bigint, NULL::text, false, 0, false;
        RETURN;
    END IF;
    SELECT * INTO c FROM pgcron._lane_claim(p_worker);
    IF c.id IS NOT NULL THEN
        RETURN QUERY SELECT c.id, c.command, true, 0, false;
        RETURN;
    END IF;
    IF p_idle >= 4 THEN
        RETURN QUERY SELECT NULL::bigint, NULL::text, true, p_idle, true;
        RETURN;
    END IF;
    PERFORM pg_catalog.pg_sleep(power(2, greatest(p_idle, 0)) / 1000.0);
    RETURN QUERY SELECT NULL::bigint, NULL::text, true, p_idle + 1, false;
END $$;

-- Go to sleep: state 'sleeping' (and the heartbeat), then one more look at the queue in the same transaction,
-- so a submission committed before this is not missed. Returns a claim, or nothing (asleep after COMMIT).
CREATE OR REPLACE FUNCTION pgcron._lane_doze(p_worker integer, p_until timestamptz)
    RETURNS TABLE (id bigint, command text, go boolean)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c record;
BEGIN
    IF NOT pgcron._lane_wanted(p_worker, p_until) THEN
        RETURN QUERY SELECT NULL::bigint, NULL::text, false;
        RETURN;
    END IF;
    UPDATE pgcron.lane_worker w SET state = 'sleeping', heartbeat_at = clock_timestamp()
     WHERE w.role = session_user::text AND w.database = current_database()::text AND w.worker = p_worker
       AND w.pid = pg_backend_pid();
    IF NOT FOUND THEN
        RETURN QUERY SELECT NULL::bigint, NULL::text, false;   -- another backend took this worker's place
        RETURN;
    END IF;
    SELECT * INTO c FROM pgcron._lane_claim(p_worker);
    RETURN QUERY SELECT c.id, c.command, true;
END $$;

-- Sleep until woken (a submitter's signal) or for lane_idle_sleep, never past the end of the run.
CREATE OR REPLACE FUNCTION pgcron._lane_sleep(p_until timestamptz) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pg_catalog.pg_sleep(greatest(0, least(
        extract(epoch FROM pgcron._config_interval('lane_idle_sleep', interval '1 second')),
        extract(epoch FROM p_until - clock_timestamp()))));
END $$;

-- Awake again: state 'idle'. Taking the worker's row lock waits for a submitter that signalled this worker,
-- so its signal lands here or in the sleep, both caught. go = false: the run is over or not wanted.
CREATE OR REPLACE FUNCTION pgcron._lane_wake(p_worker integer, p_until timestamptz) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE pgcron.lane_worker w SET state = 'idle', heartbeat_at = clock_timestamp()
     WHERE w.role = session_user::text AND w.database = current_database()::text AND w.worker = p_worker
       AND w.pid = pg_backend_pid();
    RETURN FOUND AND pgcron._lane_wanted(p_worker, p_until);
END $$;

-- Record the outcome (0004's _submission_finish: only the claiming backend, waiting for a signaller's row
-- lock), mark the worker idle, and tell the role's waiters: a lane run has no pg_cron run row of its own, so
-- the run trigger says nothing about it. The notification is delivered when the outcome commits.
CREATE OR REPLACE FUNCTION pgcron._lane_finish(p_worker integer, p_id bigint, p_rows bigint, p_state text,
                                               p_message text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_message text;
    v_channel text;
    v_outcome text;
BEGIN
    v_message := pgcron._submission_finish(p_id, p_rows, p_state, p_message);
    UPDATE pgcron.lane_worker w
       SET state = 'idle', submission_id = NULL, served = w.served + 1, heartbeat_at = clock_timestamp()
     WHERE w.role = session_user::text AND w.database = current_database()::text AND w.worker = p_worker
       AND w.pid = pg_backend_pid();
    SELECT t.outcome INTO v_outcome FROM pgcron.submission t WHERE t.id = p_id;
    SELECT c.channel INTO v_channel FROM pgcron.role_channel c WHERE c.role = session_user::text;
    IF v_channel IS NOT NULL THEN
        PERFORM pg_notify(v_channel, json_build_object(
            'submission_id', p_id,
            'status', CASE WHEN v_outcome = 'succeeded' THEN 'succeeded' ELSE 'failed' END)::text);
    END IF;
    RETURN v_message;
END $$;

-- The worker's run ends: 'restarting' while it is wanted (pg_cron starts the next run at once), else 'stopped'.
CREATE OR REPLACE FUNCTION pgcron._lane_end(p_worker integer) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_wanted integer;
BEGIN
    SELECT c.workers INTO v_wanted FROM pgcron.lane_config c
     WHERE c.role = session_user::text AND c.database = current_database()::text;
    UPDATE pgcron.lane_worker w
       SET state = CASE WHEN coalesce(v_wanted, 0) >= p_worker THEN 'restarting' ELSE 'stopped' END,
           heartbeat_at = clock_timestamp(), submission_id = NULL
     WHERE w.role = session_user::text AND w.database = current_database()::text AND w.worker = p_worker
       AND w.pid = pg_backend_pid();
END $$;

-- Between two submissions the lane's session starts over as a fresh pg_cron session would: settings, role,
-- temporary tables and session advisory locks a submission left behind do not reach the next one. No SET
-- clause: a function's SET would restore the submission's search_path on exit.
CREATE OR REPLACE FUNCTION pgcron._lane_reset() RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    RESET ALL;
    RESET ROLE;
    DISCARD TEMP;
    PERFORM pg_catalog.pg_advisory_unlock_all();
END $$;

-- The lane worker: the command of job pgcron:lane:<n>. No SET clause (it COMMITs): only schema-qualified
-- pgcron.* calls, no operators. The user's SQL runs with the session's own search_path and rights.
--
-- Signals (docs/adr/0006-lanes.md). Whoever signals this backend holds a row lock that this loop must take
-- before it goes on: a cancel or timeout of submission S holds S's row (the finish of S needs it); a
-- submitter waking a dozing worker holds the worker's row (waking up, or claiming, updates it). The signal is
-- sent before that lock is released, and PostgreSQL checks for interrupts inside every lock wait, so it lands
-- in S's SQL or S's finish, or in the sleep or the wake-up, never in a later submission's SQL. Each of those
-- places catches query_canceled; a finish or wake-up that was interrupted is retried.
CREATE OR REPLACE PROCEDURE pgcron.lane_run(p_worker integer)
    LANGUAGE plpgsql AS $$
DECLARE
    b        record;
    v_go     boolean;
    v_until  timestamptz;
    v_idle   integer := 0;
    v_doze   boolean;
    v_id     bigint;
    v_cmd    text;
    n        bigint;
    e_msg    text;
    e_state  text;
    e_detail text;
    e_hint   text;
BEGIN
    SELECT * INTO b FROM pgcron._lane_begin(p_worker);
    v_go := b.go;
    v_until := b.run_until;
    COMMIT;
    WHILE v_go LOOP
        v_doze := false;
        BEGIN
            SELECT x.id, x.command, x.go, x.idle, x.doze INTO v_id, v_cmd, v_go, v_idle, v_doze
              FROM pgcron._lane_next(p_worker, v_idle, v_until) x;
        EXCEPTION WHEN query_canceled THEN
            v_id := NULL;   -- a stray signal (the role's own pg_cancel_backend): the claim rolled back
        END;
        COMMIT;   -- the claim is durable before the user's SQL starts
        IF v_doze THEN
            BEGIN
                SELECT x.id, x.command, x.go INTO v_id, v_cmd, v_go FROM pgcron._lane_doze(p_worker, v_until) x;
            EXCEPTION WHEN query_canceled THEN
                v_id := NULL;
            END;
            COMMIT;
            IF v_go AND v_id IS NULL THEN
                BEGIN
                    PERFORM pgcron._lane_sleep(v_until);
                EXCEPTION WHEN query_canceled THEN
                    NULL;   -- woken by a submitter
                END;
                COMMIT;
                LOOP
                    BEGIN
                        v_go := pgcron._lane_wake(p_worker, v_until);
                        EXIT;
                    EXCEPTION WHEN query_canceled THEN
                        NULL;   -- the wake-up signal, landed while waiting for the submitter's lock
                    END;
                END LOOP;
                COMMIT;
            END IF;
            v_idle := 4;   -- awake again: one look at the queue, then doze again unless there is work
        END IF;
        IF v_id IS NOT NULL THEN
            n := NULL;
            e_msg := NULL;
            e_state := NULL;
            e_detail := NULL;
            e_hint := NULL;
            BEGIN
                EXECUTE v_cmd;
                GET DIAGNOSTICS n = ROW_COUNT;
            EXCEPTION
                WHEN query_canceled THEN   -- cancel and the timeout watchdog land here
                    GET STACKED DIAGNOSTICS e_msg = MESSAGE_TEXT, e_state = RETURNED_SQLSTATE;
                WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS e_msg = MESSAGE_TEXT, e_state = RETURNED_SQLSTATE,
                                            e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
            END;
            LOOP
                BEGIN
                    PERFORM pgcron._lane_finish(p_worker, v_id, n, e_state, e_msg);
                    EXIT;
                EXCEPTION WHEN query_canceled THEN
                    NULL;   -- this submission's signal, landed while the finish waited for the signaller
                END;
            END LOOP;
            COMMIT;   -- the user's work and its outcome commit together
            BEGIN
                PERFORM pgcron._lane_reset();
            EXCEPTION WHEN query_canceled THEN
                NULL;
            END;
            COMMIT;
            v_idle := 0;
        END IF;
    END LOOP;
    LOOP
        BEGIN
            PERFORM pgcron._lane_end(p_worker);
            EXIT;
        EXCEPTION WHEN query_canceled THEN
            NULL;
        END;
    END LOOP;
    COMMIT;
END $$;

-- 6. Control (entry points, with the caller's rights: the lane's jobs are the caller's own). -----------------

CREATE OR REPLACE FUNCTION pgcron._lane_configure(p_role text, p_workers integer) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_role text := pgcron._verified_role(p_role);
BEGIN
    IF p_workers IS NULL OR p_workers < 0 OR p_workers > 32 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('pgcron: a lane has 1 to 32 workers, got %s', p_workers),
            HINT = 'Each worker holds one of cron.max_running_jobs'' slots for as long as it runs.';
    END IF;
    INSERT INTO pgcron.lane_config AS c (role, database, workers, updated_at)
    VALUES (v_role, current_database()::text, p_workers, clock_timestamp())
    ON CONFLICT (role, database) DO UPDATE SET workers = excluded.workers, updated_at = excluded.updated_at;
    RETURN p_workers;
END $$;

-- Remove the caller's lane jobs beyond the wanted count whose worker is not running any more (removing a
-- job while its run goes on would cancel that run and the submission in it). Returns how many still run.
CREATE OR REPLACE FUNCTION pgcron._lane_tidy(p_wanted integer) RETURNS integer
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    j record;
    v_running integer := 0;
BEGIN
    FOR j IN
        SELECT cj.jobid, cj.jobname::text AS jobname, cj.command, split_part(cj.jobname, ':', 3) AS n
          FROM cron.job cj
         WHERE cj.username = current_user::text AND cj.database = current_database()::text
           AND starts_with(cj.jobname::text, 'pgcron:lane:')
           AND cj.command = format('CALL pgcron.lane_run(%s)', split_part(cj.jobname, ':', 3))
    LOOP
        CONTINUE WHEN j.n ~ '^[0-9]{1,2}$' AND j.n::integer <= p_wanted;
        -- never fire again (same-name upsert: does not stop a run in progress), then remove when idle
        PERFORM cron.schedule(j.jobname, '0 0 31 2 *', j.command);
        IF EXISTS (SELECT 1 FROM pgcron.lane_worker w
                    WHERE w.role = current_user::text AND w.database = current_database()::text
                      AND w.worker::text = j.n AND w.state IN ('idle', 'busy', 'sleeping')
                      AND pgcron._lane_alive(w.pid, w.backend_start, w.role))
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                       WHERE a.usename = current_user::text
                         AND a.query = j.command AND a.pid <> pg_backend_pid()) THEN
            v_running := v_running + 1;
        ELSE
            PERFORM cron.unschedule(j.jobid);
        END IF;
    END LOOP;
    RETURN v_running;
END $$;

-- Start (or resize) the caller's lane for this database with p_workers workers: jobs pgcron:lane:1..N on an
-- interval schedule. A worker's first run starts about one to two seconds later (pg_cron's first firing).
CREATE OR REPLACE FUNCTION pgcron.lane_start(p_workers integer DEFAULT 1) RETURNS integer
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT pgcron.has_interval_schedules() THEN
        RAISE EXCEPTION USING ERRCODE = '0A000',
            MESSAGE = 'pgcron: lanes need pg_cron 1.5 or newer (interval schedules)',
            HINT = 'Without lanes, pushdown runs each submission as its own job (1-2 s to start).';
    END IF;
    IF p_workers IS NULL OR p_workers < 1 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('pgcron: a lane has 1 to 32 workers, got %s', p_workers),
            HINT = 'Use pgcron.lane_stop() to stop the lane.';
    END IF;
    PERFORM pgcron._lane_configure(current_user::text, p_workers);
    FOR i IN 1 .. p_workers LOOP
        PERFORM cron.schedule(format('pgcron:lane:%s', i), '1 seconds', format('CALL pgcron.lane_run(%s)', i));
    END LOOP;
    PERFORM pgcron._lane_tidy(p_workers);
    RETURN p_workers;
END $$;

-- Stop the caller's lane: its workers end their runs after the submission they run now (idle ones within a
-- second) and their jobs are removed once they have. Call again until it returns 0 (workers still running).
-- Submissions still queued for the lane get their own job when their waiter falls back.
CREATE OR REPLACE FUNCTION pgcron.lane_stop() RETURNS integer
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pgcron._lane_configure(current_user::text, 0);
    RETURN pgcron._lane_tidy(0);
END $$;

-- 7. Maintenance. ----------------------------------------------------------------------------------------

-- A lane submission has no job to remove: once it has an outcome it is settled. Everything before that (the
-- lost-run rule, the timeout watchdog, expiry) is 0004's step, which treats a lane claim like any claim.
CREATE OR REPLACE FUNCTION pgcron._maint_step(p_id bigint) RETURNS text
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE pgcron.submission t SET job_removed_at = clock_timestamp(), settled = true
     WHERE t.id = p_id AND t.via = 'lane' AND t.finished_at IS NOT NULL AND NOT t.settled;
    IF FOUND THEN
        RETURN 'settled';
    END IF;
    RETURN pgcron._maint_submission(p_id);
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pgcron maintenance: submission % skipped this pass: %', p_id, SQLERRM;
    RETURN 'error';
END $$;

-- 0004's own-row purge, extended to the lanes' run rows (every lane worker leaves one row a minute).
CREATE OR REPLACE FUNCTION pgcron._maint_purge_own() RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_mark bigint;
    v_hi bigint;
    v_jobid bigint;
    v_lanes bigint[];
    n bigint := 0;
BEGIN
    SELECT j.jobid INTO v_jobid FROM cron.job j
     WHERE j.jobname = 'pgcron:maintenance' AND j.username = current_user::text;
    SELECT coalesce(array_agg(j.jobid), '{}') INTO v_lanes FROM cron.job j
     WHERE starts_with(j.jobname::text, 'pgcron:lane:')
       AND j.command = format('CALL pgcron.lane_run(%s)', split_part(j.jobname, ':', 3));
    SELECT e.own_purged_upto INTO v_mark FROM pgcron.engine_state e FOR UPDATE;
    IF v_jobid IS NULL OR v_mark IS NULL THEN
        RETURN 0;
    END IF;
    SELECT max(r.runid) INTO v_hi FROM cron.job_run_details r
     WHERE r.runid > v_mark AND r.runid <= v_mark + 50000
       AND r.start_time < clock_timestamp() - pgcron._config_interval('own_run_retention', interval '10 minutes');
    IF v_hi IS NULL THEN
        IF NOT EXISTS (SELECT 1 FROM cron.job_run_details r WHERE r.runid > v_mark AND r.runid <= v_mark + 50000)
           AND EXISTS (SELECT 1 FROM cron.job_run_details r WHERE r.runid > v_mark + 50000) THEN
            UPDATE pgcron.engine_state SET own_purged_upto = v_mark + 50000;
        END IF;
        RETURN 0;
    END IF;
    DELETE FROM cron.job_run_details r
     WHERE r.runid > v_mark AND r.runid <= v_hi
       AND ((r.jobid = v_jobid AND r.username = current_user::text) OR r.jobid = ANY (v_lanes))
       AND r.status IN ('succeeded', 'failed');
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE pgcron.engine_state SET own_purged_upto = v_hi;
    RETURN n;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pgcron maintenance: own run rows not purged this pass: %', SQLERRM;
    RETURN 0;
END $$;

CREATE OR REPLACE PROCEDURE pgcron.maintenance()
    LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    PERFORM pgcron._maint_begin();
    FOREACH v_id IN ARRAY pgcron._maint_open_ids() LOOP
        PERFORM pgcron._maint_step(v_id);
        COMMIT;
    END LOOP;
    PERFORM pgcron._maint_job_timeouts();
    COMMIT;
    FOREACH v_id IN ARRAY pgcron._maint_retire_ids() LOOP
        PERFORM pgcron._maint_retire(v_id);
        COMMIT;
    END LOOP;
    PERFORM pgcron._maint_purge_own();
    COMMIT;
END $$;

-- 8. Who may execute what. --------------------------------------------------------------------------------

REVOKE ALL ON PROCEDURE pgcron.maintenance() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgcron._maint_step(bigint), pgcron._maint_purge_own(), pgcron._lane_available(text, text),
                       pgcron._lane_stalled(text, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgcron._submission_to_lane(text, bigint), pgcron._lane_unroute(text, bigint),
                          pgcron._lane_begin(integer), pgcron._lane_alive(integer, timestamptz, text),
                          pgcron._lane_claim(integer), pgcron._lane_wanted(integer, timestamptz),
                          pgcron._lane_next(integer, integer, timestamptz),
                          pgcron._lane_doze(integer, timestamptz), pgcron._lane_sleep(timestamptz),
                          pgcron._lane_wake(integer, timestamptz),
                          pgcron._lane_finish(integer, bigint, bigint, text, text), pgcron._lane_end(integer),
                          pgcron._lane_reset(), pgcron._lane_configure(text, integer), pgcron._lane_tidy(integer),
                          pgcron.lane_fallback(bigint), pgcron.lane_start(integer), pgcron.lane_stop()
    TO PUBLIC;
GRANT EXECUTE ON PROCEDURE pgcron.lane_run(integer) TO PUBLIC;
