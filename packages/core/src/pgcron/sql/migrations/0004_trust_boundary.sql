-- pgcron engine migration 0004: the trust boundary (docs/adr/0005-trust-boundary.md, docs/security.md).
--
-- Callers never write engine state. PUBLIC keeps SELECT on its own rows; every change goes through an engine
-- function that derives what the engine later acts on (job id, backend pid, claim time, owner) itself. Public
-- entry points are SECURITY INVOKER (cron.schedule must create the caller's own job, and user SQL must run
-- with the caller's rights) and hand the writes to SECURITY DEFINER functions, which verify the role they are
-- told about with pgcron._verified_role(). The one engine job, pgcron:maintenance, visits only open rows, each
-- in its own protected step under lock_timeout, and purges its own run rows and old finished submissions.
--
-- Every function pins search_path = pg_catalog, pg_temp. Procedures that COMMIT cannot carry a SET clause:
-- their bodies only call schema-qualified pgcron.* functions, with no operator or unqualified call, so no
-- object in a schema a caller can write is ever a better match.
--
-- Runs in cron.database_name as the engine owner (the installer). Re-running it is harmless.

CREATE SCHEMA IF NOT EXISTS pgcron;

-- 1. Grants: SELECT on own rows only; no DML for anyone but the owner. ---------------------------------------

REVOKE ALL ON pgcron.submission FROM PUBLIC;
GRANT SELECT ON pgcron.submission TO PUBLIC;
REVOKE ALL ON pgcron.applied_job FROM PUBLIC;
GRANT SELECT ON pgcron.applied_job TO PUBLIC;
REVOKE ALL ON pgcron.schema_version FROM PUBLIC;
GRANT SELECT ON pgcron.schema_version TO PUBLIC;

DROP POLICY IF EXISTS submission_own ON pgcron.submission;
DROP POLICY IF EXISTS submission_read_own ON pgcron.submission;
CREATE POLICY submission_read_own ON pgcron.submission FOR SELECT
    USING (submitted_by = current_user OR username = current_user);

DROP POLICY IF EXISTS applied_job_own ON pgcron.applied_job;
DROP POLICY IF EXISTS applied_job_read_own ON pgcron.applied_job;
CREATE POLICY applied_job_read_own ON pgcron.applied_job FOR SELECT USING (username = current_user);

-- 2. Settings the engine reads (only the owner may change them; documented in docs/security.md). ------------

CREATE TABLE IF NOT EXISTS pgcron.config (
    name        text PRIMARY KEY,
    value       text NOT NULL,
    description text NOT NULL
);
REVOKE ALL ON pgcron.config FROM PUBLIC;
GRANT SELECT ON pgcron.config TO PUBLIC;
INSERT INTO pgcron.config (name, value, description) VALUES
    ('submission_retention', '1 day',
     'finished pushdown submissions and their run rows are deleted this long after they finished'),
    ('own_run_retention', '10 minutes',
     'run rows of the engine job pgcron:maintenance are deleted this long after they started')
ON CONFLICT (name) DO NOTHING;

-- Engine bookkeeping (no caller reads it).
CREATE TABLE IF NOT EXISTS pgcron.engine_state (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    own_purged_upto bigint NOT NULL DEFAULT 0      -- runids at or below this were visited by the own-row purge
);
ALTER TABLE pgcron.engine_state ADD COLUMN IF NOT EXISTS maint_after bigint NOT NULL DEFAULT 0;  -- pass cursor
REVOKE ALL ON pgcron.engine_state FROM PUBLIC;
INSERT INTO pgcron.engine_state DEFAULT VALUES ON CONFLICT DO NOTHING;

-- 3. Submission table: keys scoped per role, engine bookkeeping, indexes for O(open rows) passes. -----------

ALTER TABLE pgcron.submission DROP CONSTRAINT IF EXISTS submission_key_key;
CREATE UNIQUE INDEX IF NOT EXISTS submission_owner_key_idx ON pgcron.submission (submitted_by, key);
ALTER TABLE pgcron.submission ADD COLUMN IF NOT EXISTS settled boolean NOT NULL DEFAULT false;
DROP INDEX IF EXISTS pgcron.submission_open_idx;
CREATE INDEX IF NOT EXISTS submission_unsettled_idx ON pgcron.submission (id) WHERE NOT settled;
CREATE INDEX IF NOT EXISTS submission_settled_idx ON pgcron.submission (finished_at) WHERE settled;

-- Rows written before 0004 may carry values a caller chose: keep only what the engine can re-derive.
UPDATE pgcron.submission s SET timeout = NULL
 WHERE s.timeout IS NOT NULL AND NOT (s.timeout > interval '0' AND s.timeout <= interval '31 days');
UPDATE pgcron.submission s SET jobid = NULL
 WHERE s.jobid IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM cron.job j
                    WHERE j.jobid = s.jobid AND j.jobname = 'pgcron:run:' || s.id::text AND j.username = s.username);
UPDATE pgcron.submission s SET settled = true
 WHERE s.job_removed_at IS NOT NULL AND (s.top_level OR s.claimed_pid IS NULL OR s.noop_rows_purged);

-- 4. Apply records: a typed timeout, and only records that match their job. ------------------------------

ALTER TABLE pgcron.applied_job ADD COLUMN IF NOT EXISTS timeout interval;
DELETE FROM pgcron.applied_job a
 WHERE NOT EXISTS (SELECT 1 FROM cron.job j
                    WHERE j.jobid = a.jobid AND j.username = a.username AND j.jobname = a.jobname);
UPDATE pgcron.applied_job a
   SET timeout = CASE WHEN jsonb_typeof(a.spec -> 'timeout_seconds') = 'number'
                           AND (a.spec ->> 'timeout_seconds')::numeric > 0
                           AND (a.spec ->> 'timeout_seconds')::numeric <= 2678400
                      THEN make_interval(secs => (a.spec ->> 'timeout_seconds')::double precision) END;
CREATE INDEX IF NOT EXISTS applied_job_timeout_idx ON pgcron.applied_job (jobid) WHERE timeout IS NOT NULL;

-- Functions of 0002 that read catalogs: pg_temp last, so no temporary table can shadow a catalog.
ALTER FUNCTION pgcron.cron_timezone() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION pgcron.has_interval_schedules() SET search_path = pg_catalog, pg_temp;

-- 5. Identity. -------------------------------------------------------------------------------------------

-- The role a definer function acts for. Entry points pass current_user; a definer function cannot see it, so
-- it is accepted only for a role session_user could act as anyway (session_user is set by authentication and
-- changed only by superusers).
CREATE OR REPLACE FUNCTION pgcron._verified_role(p_role text) RETURNS text
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_role IS NULL OR p_role = session_user::text THEN
        RETURN session_user::text;
    END IF;
    IF to_regrole(quote_ident(p_role)) IS NOT NULL
       AND (pg_has_role(session_user, p_role::name, 'USAGE')
            OR (current_setting('server_version_num')::int >= 160000
                AND pg_has_role(session_user, p_role::name, 'SET'))) THEN
        RETURN p_role;
    END IF;
    RAISE EXCEPTION USING ERRCODE = '42501',
        MESSAGE = format('pgcron: session user %s cannot act as role %s', session_user, p_role),
        HINT = 'Call pgcron as the role itself: not from inside another role''s SECURITY DEFINER function, '
               'nor after SET ROLE to a role whose privileges the login role does not have.';
END $$;

CREATE OR REPLACE FUNCTION pgcron._is_superuser(p_role text) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = p_role), false)
$$;

CREATE OR REPLACE FUNCTION pgcron._config_interval(p_name text, p_default interval) RETURNS interval
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v interval;
BEGIN
    SELECT c.value::interval INTO v FROM pgcron.config c WHERE c.name = p_name;
    RETURN coalesce(v, p_default);
EXCEPTION WHEN OTHERS THEN
    RETURN p_default;   -- a bad setting never stops the engine
END $$;

-- 6. Submitting. -----------------------------------------------------------------------------------------

-- The submission row, written only here. Returns what the entry point needs to create the caller's own job.
CREATE OR REPLACE FUNCTION pgcron._submission_open(
    p_role text, p_command text, p_key text, p_database text, p_username text, p_timeout interval,
    p_top_level boolean
) RETURNS TABLE (id bigint, reattached boolean, jobid bigint, jobname text, schedule text, job_command text,
                 database text, username text)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_role text := pgcron._verified_role(p_role);
    v_db   text := coalesce(p_database, current_database());
    v_user text := coalesce(p_username, v_role);
    v_key  text := coalesce(p_key, gen_random_uuid()::text);
    v_once boolean;
    v_tz   text;
    v_at   timestamp;
    v_floor bigint;
    s      pgcron.submission;
BEGIN
    IF p_command IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'pgcron: the command must not be NULL';
    END IF;
    IF octet_length(p_command) > 1048576 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('pgcron: the command is %s bytes; the limit is 1 MiB', octet_length(p_command)),
            HINT = 'Put large logic in a function or procedure and submit a call to it.';
    END IF;
    IF length(v_key) < 1 OR length(v_key) > 200 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('pgcron: a submission key must be 1 to 200 characters, got %s', length(v_key));
    END IF;
    IF p_timeout IS NOT NULL AND NOT (p_timeout > interval '0' AND p_timeout <= interval '31 days') THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('pgcron: timeout must be more than 0 and at most 31 days, got %s', p_timeout);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database d WHERE d.datname = v_db) THEN
        RAISE EXCEPTION USING ERRCODE = '3D000', MESSAGE = format('database %I does not exist', v_db);
    END IF;
    IF v_user <> v_role AND NOT pgcron._is_superuser(session_user::text) THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = format('pgcron: only a superuser may submit SQL to run as another role (%s)', v_user),
            HINT = 'Submit as the role that should run the SQL.';
    END IF;

    v_once := coalesce(p_top_level, false) OR v_db <> current_database();
    IF v_once THEN
        -- One cron minute that occurs once a year; skip a minute when too close to the boundary for the
        -- launcher (which re-reads cron.job about once a second) to see the job in time.
        v_tz := pgcron.cron_timezone();
        v_at := date_trunc('minute', clock_timestamp() AT TIME ZONE v_tz)
                + CASE WHEN extract(second FROM clock_timestamp()) >= 55 THEN interval '2 minutes'
                       ELSE interval '1 minute' END;
    END IF;
    BEGIN
        -- the next runid is above this: last_value itself when the sequence was never used
        v_floor := (SELECT CASE WHEN q.is_called THEN q.last_value ELSE q.last_value - 1 END FROM cron.runid_seq q);
    EXCEPTION WHEN insufficient_privilege THEN
        v_floor := 0;
    END;

    INSERT INTO pgcron.submission AS t (key, command, database, username, submitted_by, top_level, timeout,
                                        runid_floor, start_by)
    VALUES (v_key, p_command, v_db, v_user, v_role, v_once, p_timeout, v_floor,
            CASE WHEN v_once THEN (v_at AT TIME ZONE v_tz) + interval '3 minutes'
                 ELSE clock_timestamp() + interval '10 minutes' END)
    ON CONFLICT (submitted_by, key) DO NOTHING
    RETURNING * INTO s;

    IF NOT FOUND THEN
        SELECT * INTO s FROM pgcron.submission t WHERE t.submitted_by = v_role AND t.key = v_key;
        IF s.command <> p_command OR s.database <> v_db OR s.username <> v_user THEN
            RAISE EXCEPTION USING ERRCODE = 'PGC01',
                MESSAGE = format('submission key %L was already used for a different command, database or user',
                                 v_key),
                HINT = 'Use a new key for a different command, or attach to the existing submission.';
        END IF;
        RETURN QUERY SELECT s.id, true, s.jobid, s.jobname, NULL::text, NULL::text, s.database, s.username;
        RETURN;
    END IF;

    RETURN QUERY SELECT s.id, false, NULL::bigint, 'pgcron:run:' || s.id::text,
        CASE WHEN v_once THEN format('%s %s %s %s *', extract(minute FROM v_at)::int,
                                     extract(hour FROM v_at)::int, extract(day FROM v_at)::int,
                                     extract(month FROM v_at)::int)
             WHEN pgcron.has_interval_schedules() THEN '1 seconds'
             ELSE '* * * * *' END,
        CASE WHEN v_once THEN p_command ELSE format('CALL pgcron.execute_submission(%s)', s.id) END,
        v_db, v_user;
END $$;

-- The job id, read from the cron.job row pg_cron wrote for the submission's role (only pg_cron writes
-- cron.job.username; only a superuser can choose it). Binds once; the job must run exactly what was planned.
CREATE OR REPLACE FUNCTION pgcron._submission_bind(p_role text, p_id bigint) RETURNS bigint
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
    IF v_jobid IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'PGC03',
            MESSAGE = format('pgcron: the job of submission %s was not created as planned', p_id);
    END IF;
    UPDATE pgcron.submission t SET jobid = v_jobid, jobname = 'pgcron:run:' || s.id::text WHERE t.id = p_id;
    RETURN v_jobid;
END $$;

-- Create (or re-attach to) the caller's submission with this key. One transaction: the row and the caller's
-- own temporary job exist together or not at all. Re-submitting a key with a different command: PGC01.
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
    v_jobid := pgcron._submission_bind(current_user::text, o.id);
    RETURN QUERY SELECT o.id, v_jobid, false;
END $$;

-- 7. Executing (the temporary job's command). ------------------------------------------------------------

-- The guard: only the first firing of the submission's own job finds it unclaimed. The pid and time are the
-- calling backend's own; only the submission's role (session_user of its job) may claim.
CREATE OR REPLACE FUNCTION pgcron._submission_claim(p_id bigint)
    RETURNS TABLE (command text, jobname text, neutral_command text)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY
    UPDATE pgcron.submission t
       SET claimed_at = clock_timestamp(), claimed_pid = pg_backend_pid()
     WHERE t.id = p_id AND t.username = session_user::text AND t.jobid IS NOT NULL AND NOT t.top_level
       AND t.claimed_at IS NULL AND t.finished_at IS NULL AND t.cancel_requested_at IS NULL
    RETURNING t.command, t.jobname, format('CALL pgcron.execute_submission(%s)', t.id);
END $$;

-- Stop the job from firing again: a same-name upsert (alter_job is revoked from PUBLIC) to 31 February. Runs
-- as the job's role, on its own job. Neither form stops the current run, in either mode.
CREATE OR REPLACE FUNCTION pgcron._neutralise_job(p_jobname text, p_command text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM cron.schedule(p_jobname, '0 0 31 2 *', p_command);
EXCEPTION WHEN OTHERS THEN
    NULL;   -- the claim alone is the guard; maintenance removes the job
END $$;

-- The outcome, recorded only by the backend that claimed the submission. Returns the message to raise.
CREATE OR REPLACE FUNCTION pgcron._submission_finish(p_id bigint, p_rows bigint, p_state text, p_message text)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s pgcron.submission;
    v_outcome text;
    v_message text := p_message;
BEGIN
    -- FOR UPDATE waits for a cancel or watchdog transaction that signalled us and still holds the row.
    SELECT * INTO s FROM pgcron.submission t WHERE t.id = p_id FOR UPDATE;
    IF NOT FOUND OR s.claimed_pid IS DISTINCT FROM pg_backend_pid() OR s.username <> session_user::text
       OR s.finished_at IS NOT NULL THEN
        RETURN v_message;
    END IF;
    v_outcome := CASE WHEN p_state IS NULL THEN 'succeeded'
                      WHEN p_state = '57014' AND s.timed_out_at IS NOT NULL THEN 'timed_out'
                      WHEN p_state = '57014' AND s.cancel_requested_at IS NOT NULL THEN 'canceled'
                      ELSE 'failed' END;
    IF v_outcome = 'timed_out' THEN
        v_message := format('pgcron: the run exceeded its timeout of %s and was canceled', s.timeout::text);
    END IF;
    UPDATE pgcron.submission t
       SET finished_at = clock_timestamp(), outcome = v_outcome, rows = p_rows, sqlstate = p_state,
           error = v_message
     WHERE t.id = p_id;
    RETURN v_message;
END $$;

-- Re-raise the user's error after the outcome committed, so pg_cron records the run failed with the
-- database's own message, SQLSTATE, DETAIL and HINT.
CREATE OR REPLACE FUNCTION pgcron._reraise(p_state text, p_message text, p_detail text, p_hint text)
    RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_state IS NULL THEN
        RETURN;
    END IF;
    IF coalesce(p_detail, '') <> '' AND coalesce(p_hint, '') <> '' THEN
        RAISE EXCEPTION USING MESSAGE = p_message, ERRCODE = p_state, DETAIL = p_detail, HINT = p_hint;
    ELSIF coalesce(p_detail, '') <> '' THEN
        RAISE EXCEPTION USING MESSAGE = p_message, ERRCODE = p_state, DETAIL = p_detail;
    ELSIF coalesce(p_hint, '') <> '' THEN
        RAISE EXCEPTION USING MESSAGE = p_message, ERRCODE = p_state, HINT = p_hint;
    ELSE
        RAISE EXCEPTION USING MESSAGE = p_message, ERRCODE = p_state;
    END IF;
END $$;

-- No SET clause (a procedure with one cannot COMMIT): only schema-qualified calls, no operators. The user's
-- SQL runs with the session's own search_path and rights, exactly as a plain pg_cron job would.
CREATE OR REPLACE PROCEDURE pgcron.execute_submission(p_id bigint)
    LANGUAGE plpgsql AS $$
DECLARE
    c        record;
    n        bigint;
    e_msg    text;
    e_state  text;
    e_detail text;
    e_hint   text;
BEGIN
    SELECT * INTO c FROM pgcron._submission_claim(p_id);
    IF c.command IS NULL THEN
        RETURN;   -- a repeat firing (or a canceled/expired submission, or not this role's): run nothing
    END IF;
    PERFORM pgcron._neutralise_job(c.jobname, c.neutral_command);
    COMMIT;   -- the claim is durable before the user's SQL starts: a failure cannot roll it back

    BEGIN
        EXECUTE c.command;
        GET DIAGNOSTICS n = ROW_COUNT;
    EXCEPTION
        WHEN query_canceled THEN   -- not covered by OTHERS: cancel and the timeout watchdog land here
            GET STACKED DIAGNOSTICS e_msg = MESSAGE_TEXT, e_state = RETURNED_SQLSTATE;
        WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS e_msg = MESSAGE_TEXT, e_state = RETURNED_SQLSTATE,
                                    e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
    END;
    e_msg := pgcron._submission_finish(p_id, n, e_state, e_msg);
    COMMIT;   -- the user's work and its outcome commit together
    PERFORM pgcron._reraise(e_state, e_msg, e_detail, e_hint);
END $$;

-- 8. Canceling. ------------------------------------------------------------------------------------------

-- Marks the request and says what the entry point must do with the caller's own rights: signal a backend
-- the engine found itself (the claimed pid, verified alive and of the submission's role), or unschedule the
-- not-yet-started one-shot job the engine bound.
CREATE OR REPLACE FUNCTION pgcron._submission_cancel(p_role text, p_id bigint)
    RETURNS TABLE (result text, signal_pid integer, unschedule_jobid bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_role text := pgcron._verified_role(p_role);
    s pgcron.submission;
    v_pid integer;
BEGIN
    UPDATE pgcron.submission t SET cancel_requested_at = coalesce(t.cancel_requested_at, clock_timestamp())
     WHERE t.id = p_id AND v_role IN (t.submitted_by, t.username)
    RETURNING * INTO s;   -- row lock: a firing that has not claimed yet will see the request
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PGC03', MESSAGE = format('no submission with id %s', p_id);
    END IF;
    IF s.finished_at IS NOT NULL THEN
        RETURN QUERY SELECT 'finished'::text, NULL::integer, NULL::bigint;
        RETURN;
    END IF;
    IF s.top_level THEN
        SELECT d.job_pid INTO v_pid FROM cron.job_run_details d
         WHERE d.jobid = s.jobid AND d.username = s.username AND d.runid > s.runid_floor
           AND d.status NOT IN ('succeeded', 'failed')
         ORDER BY d.runid DESC LIMIT 1;
        IF v_pid IS NULL THEN
            IF EXISTS (SELECT 1 FROM cron.job_run_details d
                        WHERE d.jobid = s.jobid AND d.username = s.username AND d.runid > s.runid_floor) THEN
                RETURN QUERY SELECT 'finished'::text, NULL::integer, NULL::bigint;
                RETURN;
            END IF;
            UPDATE pgcron.submission t SET finished_at = clock_timestamp(), outcome = 'canceled',
                   error = 'canceled before it started', job_removed_at = clock_timestamp(), settled = true
             WHERE t.id = p_id;
            RETURN QUERY SELECT 'not_started'::text, NULL::integer,
                (SELECT j.jobid FROM cron.job j
                  WHERE j.jobid = s.jobid AND j.jobname = s.jobname AND j.username = s.username);
            RETURN;
        END IF;
    ELSIF s.claimed_at IS NULL THEN
        UPDATE pgcron.submission t SET finished_at = clock_timestamp(), outcome = 'canceled',
               error = 'canceled before it started'
         WHERE t.id = p_id;
        RETURN QUERY SELECT 'not_started'::text, NULL::integer, NULL::bigint;   -- maintenance removes the job
        RETURN;
    ELSE
        v_pid := s.claimed_pid;
    END IF;
    SELECT a.pid INTO v_pid FROM pg_catalog.pg_stat_activity a
     WHERE a.pid = v_pid AND a.usename = s.username
       AND (s.top_level OR a.backend_start <= s.claimed_at);
    IF v_pid IS NULL THEN
        RETURN QUERY SELECT 'not_running'::text, NULL::integer, NULL::bigint;
        RETURN;
    END IF;
    RETURN QUERY SELECT 'signaled'::text, v_pid, NULL::bigint;
END $$;

-- Stop a submission: before it starts it will never run; while it runs its statement is canceled. Returns
-- 'not_started', 'signaled', 'finished' (too late) or 'not_running' (claimed but the backend is gone).
CREATE OR REPLACE FUNCTION pgcron.cancel_submission(p_id bigint) RETURNS text
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM pgcron._submission_cancel(current_user::text, p_id);
    IF r.unschedule_jobid IS NOT NULL THEN
        PERFORM cron.unschedule(r.unschedule_jobid);   -- the caller's own job (or one it may remove)
    END IF;
    IF r.signal_pid IS NOT NULL THEN
        -- With the caller's rights: a role may signal its own backends. The engine chose the pid.
        RETURN CASE WHEN pg_cancel_backend(r.signal_pid) THEN 'signaled' ELSE 'not_running' END;
    END IF;
    RETURN r.result;
END $$;

-- 9. Notifications per role. -------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS pgcron.role_channel (
    role    text PRIMARY KEY,
    channel text NOT NULL UNIQUE
);
REVOKE ALL ON pgcron.role_channel FROM PUBLIC;

CREATE OR REPLACE FUNCTION pgcron._run_channel(p_role text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_role text := pgcron._verified_role(p_role);
    v_channel text;
BEGIN
    SELECT c.channel INTO v_channel FROM pgcron.role_channel c WHERE c.role = v_role;
    IF v_channel IS NULL THEN
        INSERT INTO pgcron.role_channel (role, channel)
        VALUES (v_role, 'pgcron_run_' || replace(gen_random_uuid()::text, '-', ''))
        ON CONFLICT (role) DO NOTHING;
        SELECT c.channel INTO v_channel FROM pgcron.role_channel c WHERE c.role = v_role;
    END IF;
    RETURN v_channel;
END $$;

-- The LISTEN channel of the caller's run events: an unguessable name per role, so nobody learns another
-- role's runs by listening.
CREATE OR REPLACE FUNCTION pgcron.run_channel() RETURNS text
    LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT pgcron._run_channel(current_user::text)
$$;

-- Runs inside the pg_cron launcher's own writes, so it must never raise: an error here would stop pg_cron
-- from recording runs. Definer: the channel table is readable by the engine owner only.
CREATE OR REPLACE FUNCTION pgcron.notify_run() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_channel text;
BEGIN
    BEGIN
        SELECT c.channel INTO v_channel FROM pgcron.role_channel c WHERE c.role = NEW.username;
        IF v_channel IS NOT NULL THEN
            PERFORM pg_notify(v_channel,
                              json_build_object('runid', NEW.runid, 'jobid', NEW.jobid, 'status', NEW.status)::text);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        NULL;  -- a lost notification only delays waiters until their next poll
    END;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION pgcron.notify_run() FROM PUBLIC;

-- 10. Apply records (jobs as code). ------------------------------------------------------------------------

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

CREATE OR REPLACE FUNCTION pgcron.record_applied_jobs(p_jobids bigint[], p_specs jsonb[], p_created boolean[])
    RETURNS integer
    LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT pgcron._record_applied_jobs(current_user::text, p_jobids, p_specs, p_created)
$$;

CREATE OR REPLACE FUNCTION pgcron._forget_applied_jobs(p_role text, p_namespace text, p_jobids bigint[])
    RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_role text := pgcron._verified_role(p_role);
    n integer;
BEGIN
    DELETE FROM pgcron.applied_job a
     WHERE a.namespace = p_namespace
       AND (a.username = v_role
            OR (to_regrole(quote_ident(a.username)) IS NOT NULL
                AND pg_has_role(session_user, a.username::name, 'USAGE')))
       AND (a.jobid = ANY (coalesce(p_jobids, '{}'))
            OR NOT EXISTS (SELECT 1 FROM cron.job j WHERE j.jobid = a.jobid));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION pgcron.forget_applied_jobs(p_namespace text, p_jobids bigint[]) RETURNS integer
    LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT pgcron._forget_applied_jobs(current_user::text, p_namespace, p_jobids)
$$;

-- The former pgcron:job-timeouts watchdog is part of maintenance now.
DROP FUNCTION IF EXISTS pgcron.enforce_job_timeouts();
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT j.jobid FROM cron.job j
              WHERE j.jobname = 'pgcron:job-timeouts' AND j.command = 'SELECT pgcron.enforce_job_timeouts()'
    LOOP
        BEGIN
            PERFORM cron.unschedule(r.jobid);
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'pgcron: could not remove job % (pgcron:job-timeouts of another role): %', r.jobid, SQLERRM;
        END;
    END LOOP;
END $$;

-- 11. History purge for callers (invoker: a role deletes only the rows it may see). -------------------------

CREATE OR REPLACE FUNCTION pgcron._purge_plan(p_keep interval, p_jobname_prefix text)
    RETURNS TABLE (low bigint, high bigint, cutoff timestamptz, jobids bigint[])
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_cutoff timestamptz;
    v_jobids bigint[];
    v_low bigint;
    v_high bigint;
BEGIN
    IF p_keep IS NULL OR p_keep <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('pgcron.purge_history: p_keep must be a positive interval, got %s', p_keep);
    END IF;
    IF p_jobname_prefix IS NOT NULL AND length(p_jobname_prefix) = 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'pgcron.purge_history: p_jobname_prefix must not be empty (pass NULL for every job)';
    END IF;
    v_cutoff := clock_timestamp() - p_keep;
    IF p_jobname_prefix IS NOT NULL THEN
        SELECT coalesce(array_agg(j.jobid), '{}') INTO v_jobids
          FROM cron.job j WHERE starts_with(j.jobname::text, p_jobname_prefix);
    END IF;
    SELECT min(d.runid) INTO v_low FROM cron.job_run_details d;
    -- runids grow with time: nothing after the newest run that started before the cutoff can qualify.
    SELECT max(d.runid) INTO v_high FROM cron.job_run_details d
     WHERE coalesce(d.start_time, d.end_time) < v_cutoff;
    RETURN QUERY SELECT v_low - 1, v_high, v_cutoff, v_jobids;
END $$;

-- One batch; returns the next low bound, or NULL when done.
CREATE OR REPLACE FUNCTION pgcron._purge_batch(p_low bigint, p_high bigint, p_batch integer,
                                               p_cutoff timestamptz, p_jobids bigint[]) RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_next bigint;
    n bigint;
BEGIN
    IF p_low IS NULL OR p_high IS NULL OR p_low >= p_high THEN
        RETURN NULL;
    END IF;
    v_next := least(p_low + greatest(coalesce(p_batch, 10000), 1), p_high);
    DELETE FROM cron.job_run_details d
     WHERE d.runid > p_low AND d.runid <= v_next
       AND (p_jobids IS NULL OR d.jobid = ANY (p_jobids))
       AND (coalesce(d.end_time, d.start_time) < p_cutoff OR (d.start_time IS NULL AND d.end_time IS NULL))
       AND NOT (d.status NOT IN ('succeeded', 'failed') AND d.job_pid IS NOT NULL
                AND EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid = d.job_pid));
    GET DIAGNOSTICS n = ROW_COUNT;
    RAISE LOG 'pgcron.purge_history: deleted % run rows in (%, %]', n, p_low, v_next;
    RETURN v_next;
END $$;

-- Delete run history older than p_keep in short batches, committing after each one (the launcher writes this
-- table synchronously; facts §8.10). No SET clause (it COMMITs): only schema-qualified calls, no operators.
CREATE OR REPLACE PROCEDURE pgcron.purge_history(
    p_keep interval,
    p_batch integer DEFAULT 10000,
    p_jobname_prefix text DEFAULT NULL
)
    LANGUAGE plpgsql AS $$
DECLARE
    p record;
    v_low bigint;
BEGIN
    SELECT * INTO p FROM pgcron._purge_plan(p_keep, p_jobname_prefix);
    v_low := p.low;
    LOOP
        v_low := pgcron._purge_batch(v_low, p.high, p_batch, p.cutoff, p.jobids);
        EXIT WHEN v_low IS NULL;
        COMMIT;
    END LOOP;
END $$;
GRANT EXECUTE ON PROCEDURE pgcron.purge_history(interval, integer, text) TO PUBLIC;

-- 12. Maintenance: the one engine job. ---------------------------------------------------------------------

-- One submission's step. Acts only on values the engine wrote, re-checks ids against cron.job and
-- pg_stat_activity (the role must match), and never raises: a bad or locked row is retried next pass.
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
                                WHERE a.pid = s.claimed_pid AND a.backend_start <= s.claimed_at
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
                        WHERE a.pid = s.claimed_pid AND a.backend_start <= s.claimed_at) THEN
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
        IF s.jobid IS NOT NULL AND EXISTS (SELECT 1 FROM cron.job j
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

-- Jobs-file timeouts (applied_job.timeout): cancel runs of applied jobs past their limit. Only runs of the
-- record's own job and role, and only a live backend of that role.
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
        SELECT d.job_pid, d.start_time, a.username
          FROM pgcron.applied_job a
          JOIN cron.job j ON j.jobid = a.jobid AND j.username = a.username
          JOIN cron.job_run_details d ON d.jobid = a.jobid AND d.username = a.username
         WHERE a.timeout IS NOT NULL
           AND d.status IN ('starting', 'connecting', 'sending', 'running')
           AND d.job_pid IS NOT NULL
           AND d.start_time + a.timeout < clock_timestamp()
    LOOP
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity x
                        WHERE x.pid = r.job_pid AND x.usename = r.username
                          AND x.backend_start <= r.start_time + interval '1 second')
               AND pg_cancel_backend(r.job_pid) THEN
                n := n + 1;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'pgcron maintenance: could not cancel backend % (job timeout): %', r.job_pid, SQLERRM;
        END;
    END LOOP;
    RETURN n;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pgcron maintenance: job timeouts skipped this pass: %', SQLERRM;
    RETURN 0;
END $$;

-- Retire one settled submission past the retention: its run row (the claimed run, found by its exact runid)
-- and the submission row.
CREATE OR REPLACE FUNCTION pgcron._maint_retire(p_id bigint) RETURNS boolean
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s pgcron.submission;
BEGIN
    SELECT * INTO s FROM pgcron.submission t WHERE t.id = p_id AND t.settled FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF s.runid IS NOT NULL AND s.jobid IS NOT NULL THEN
        DELETE FROM cron.job_run_details r
         WHERE r.runid = s.runid AND r.jobid = s.jobid AND r.username = s.username;
    END IF;
    DELETE FROM pgcron.submission t WHERE t.id = p_id;
    RETURN true;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pgcron maintenance: submission % not retired this pass: %', p_id, SQLERRM;
    RETURN false;
END $$;

-- The engine job's own run rows: purged once older than own_run_retention, walking runids forward from a
-- watermark in bounded primary-key ranges (no scan of the whole history).
CREATE OR REPLACE FUNCTION pgcron._maint_purge_own() RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_mark bigint;
    v_hi bigint;
    v_jobid bigint;
    n bigint := 0;
BEGIN
    SELECT j.jobid INTO v_jobid FROM cron.job j
     WHERE j.jobname = 'pgcron:maintenance' AND j.username = current_user::text;
    SELECT e.own_purged_upto INTO v_mark FROM pgcron.engine_state e FOR UPDATE;
    IF v_jobid IS NULL OR v_mark IS NULL THEN
        RETURN 0;
    END IF;
    SELECT max(r.runid) INTO v_hi FROM cron.job_run_details r
     WHERE r.runid > v_mark AND r.runid <= v_mark + 50000
       AND r.start_time < clock_timestamp() - pgcron._config_interval('own_run_retention', interval '10 minutes');
    IF v_hi IS NULL THEN
        -- nothing old enough in this range; skip an empty range (a gap in runids) if the next row is newer
        IF NOT EXISTS (SELECT 1 FROM cron.job_run_details r WHERE r.runid > v_mark AND r.runid <= v_mark + 50000)
           AND EXISTS (SELECT 1 FROM cron.job_run_details r WHERE r.runid > v_mark + 50000) THEN
            UPDATE pgcron.engine_state SET own_purged_upto = v_mark + 50000;
        END IF;
        RETURN 0;
    END IF;
    DELETE FROM cron.job_run_details r
     WHERE r.runid > v_mark AND r.runid <= v_hi AND r.jobid = v_jobid AND r.username = current_user::text
       AND r.status IN ('succeeded', 'failed');
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE pgcron.engine_state SET own_purged_upto = v_hi;
    RETURN n;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pgcron maintenance: own run rows not purged this pass: %', SQLERRM;
    RETURN 0;
END $$;

-- The open submissions this pass visits: at most 100 per role (one role's flood never crowds out another's),
-- each role's taken from a cursor that moves through the ids, so every open row is visited within a few passes.
CREATE OR REPLACE FUNCTION pgcron._maint_open_ids() RETURNS bigint[]
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_after bigint;
    v_ids bigint[];
BEGIN
    SELECT e.maint_after INTO v_after FROM pgcron.engine_state e;
    v_after := coalesce(v_after, 0);
    SELECT coalesce(array_agg(o.id ORDER BY o.id), '{}') INTO v_ids
      FROM (SELECT t.id,
                   row_number() OVER (PARTITION BY t.username ORDER BY t.id <= v_after, t.id) AS k
              FROM pgcron.submission t WHERE NOT t.settled) o
     WHERE o.k <= 100;
    -- next pass: after the highest id of a role that had more than it got; back to the start otherwise
    UPDATE pgcron.engine_state SET maint_after = coalesce(
        (SELECT max(x) FROM unnest(v_ids) x
          WHERE cardinality(v_ids) > 0
            AND EXISTS (SELECT 1 FROM pgcron.submission t
                         WHERE NOT t.settled AND NOT (t.id = ANY (v_ids)) AND t.id > x)), 0);
    RETURN v_ids;
END $$;

CREATE OR REPLACE FUNCTION pgcron._maint_retire_ids() RETURNS bigint[]
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(x.id ORDER BY x.id), '{}')
      FROM (SELECT t.id FROM pgcron.submission t
             WHERE t.settled
               AND t.finished_at < clock_timestamp()
                                   - pgcron._config_interval('submission_retention', interval '1 day')
             ORDER BY t.finished_at LIMIT 500) x
$$;

CREATE OR REPLACE FUNCTION pgcron._maint_begin() RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- Session settings of the engine job's own session: nobody's lock can stall a pass for long.
    PERFORM set_config('lock_timeout', '200ms', false);
    PERFORM set_config('statement_timeout', '60s', false);
END $$;

-- The engine's maintenance pass (job 'pgcron:maintenance'). No SET clause (it COMMITs between rows, so that
-- locks are short and pg_stat_activity, cached per transaction, is fresh): only schema-qualified calls.
CREATE OR REPLACE PROCEDURE pgcron.maintenance()
    LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    PERFORM pgcron._maint_begin();
    FOREACH v_id IN ARRAY pgcron._maint_open_ids() LOOP
        PERFORM pgcron._maint_submission(v_id);
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

CREATE OR REPLACE FUNCTION pgcron._maint_schedule() RETURNS text
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN pgcron.has_interval_schedules() THEN '5 seconds' ELSE '* * * * *' END
$$;

-- (Re)create the engine job as the engine owner, active, with its one command; removes a leftover
-- pgcron:job-timeouts. `pgcron schema install` calls it every time, so a deleted or altered job is restored.
CREATE OR REPLACE FUNCTION pgcron.ensure_maintenance_job() RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_owner text := (SELECT pg_get_userbyid(n.nspowner)::text FROM pg_catalog.pg_namespace n WHERE n.nspname = 'pgcron');
    v_jobid bigint;
    v_active boolean;
BEGIN
    IF current_user::text = v_owner THEN
        v_jobid := cron.schedule('pgcron:maintenance', pgcron._maint_schedule(), 'CALL pgcron.maintenance()');
    ELSIF pgcron._is_superuser(current_user::text) THEN
        -- another superuser installs: the job still runs as the engine owner
        v_jobid := cron.schedule_in_database('pgcron:maintenance', pgcron._maint_schedule(),
                                             'CALL pgcron.maintenance()', current_database(), v_owner);
    ELSE
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = format('pgcron: the engine job must be installed by the engine owner %s, not %s',
                             v_owner, current_user),
            HINT = format('Connect as %s and run `pgcron schema install`.', v_owner);
    END IF;
    SELECT j.active INTO v_active FROM cron.job j WHERE j.jobid = v_jobid;
    IF NOT v_active THEN
        BEGIN
            PERFORM cron.alter_job(v_jobid, active := true);
        EXCEPTION WHEN insufficient_privilege THEN
            -- no EXECUTE on alter_job: re-create it (a new jobid, same name)
            PERFORM cron.unschedule(v_jobid);
            v_jobid := cron.schedule('pgcron:maintenance', pgcron._maint_schedule(), 'CALL pgcron.maintenance()');
        END;
    END IF;
    PERFORM cron.unschedule(j.jobid) FROM cron.job j
     WHERE j.jobname = 'pgcron:job-timeouts' AND j.command = 'SELECT pgcron.enforce_job_timeouts()'
       AND (j.username = current_user::text OR pgcron._is_superuser(current_user::text));
    RETURN v_jobid;
END $$;

-- 13. Who may execute what: entry points for everyone, internals for nobody but the owner. -----------------

REVOKE ALL ON PROCEDURE pgcron.maintenance() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgcron._maint_submission(bigint), pgcron._maint_job_timeouts(), pgcron._maint_retire(bigint),
                       pgcron._maint_purge_own(), pgcron._maint_open_ids(), pgcron._maint_retire_ids(),
                       pgcron._maint_begin(), pgcron._maint_schedule(), pgcron.ensure_maintenance_job(), pgcron._config_interval(text, interval),
                       pgcron._is_superuser(text), pgcron._verified_role(text)
    FROM PUBLIC;
-- Definer functions each entry point calls with the caller's rights; each verifies the role it is told.
GRANT EXECUTE ON FUNCTION pgcron._submission_open(text, text, text, text, text, interval, boolean),
                          pgcron._submission_bind(text, bigint), pgcron._submission_claim(bigint),
                          pgcron._submission_finish(bigint, bigint, text, text), pgcron._neutralise_job(text, text),
                          pgcron._reraise(text, text, text, text), pgcron._submission_cancel(text, bigint),
                          pgcron._run_channel(text), pgcron._record_applied_jobs(text, bigint[], jsonb[], boolean[]),
                          pgcron._forget_applied_jobs(text, text, bigint[]),
                          pgcron._purge_plan(interval, text), pgcron._purge_batch(bigint, bigint, integer, timestamptz, bigint[])
    TO PUBLIC;
GRANT EXECUTE ON FUNCTION pgcron.submit(text, text, text, text, interval, boolean), pgcron.cancel_submission(bigint),
                          pgcron.run_channel(), pgcron.record_applied_jobs(bigint[], jsonb[], boolean[]),
                          pgcron.forget_applied_jobs(text, bigint[])
    TO PUBLIC;
GRANT EXECUTE ON PROCEDURE pgcron.execute_submission(bigint) TO PUBLIC;

SELECT pgcron.ensure_maintenance_job();
