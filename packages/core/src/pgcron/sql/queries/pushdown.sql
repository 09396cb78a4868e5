-- Pushdown runs (pgcron.pushdown). Engine objects come from migration 0002_pushdown.sql.

-- name: pushdown_preflight
-- What submit needs to know before it creates anything: is pg_cron here, is this its database, is the engine
-- schema installed, may this role use cron (and other databases), does the target database exist, is the NOTIFY
-- trigger installed.
SELECT
    EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') AS has_pg_cron,
    to_regprocedure('pgcron.submit(text,text,text,text,interval,boolean)') IS NOT NULL AS has_engine,
    to_regprocedure('pgcron.run_channel()') IS NOT NULL AS has_trust_boundary,   -- migration 0004
    CASE WHEN to_regnamespace('cron') IS NULL THEN false
         ELSE has_schema_privilege('cron', 'USAGE') END AS cron_usage,
    current_database() AS current_database,
    (SELECT datname FROM pg_catalog.pg_stat_activity WHERE backend_type = 'pg_cron launcher' LIMIT 1)
        AS launcher_database,
    current_user AS current_user,
    -- another database needs cron.schedule_in_database, which every provider but Neon grants its admin
    -- (catalogs only, as below: to_regprocedure('cron.…') raises without USAGE on cron)
    EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
              JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'cron' AND p.proname = 'schedule_in_database'
               AND p.proargtypes = '25 25 25 25 25 16'::oidvector   -- (text, text, text, text, text, boolean)
               AND has_function_privilege(p.oid, 'EXECUTE')) AS may_schedule_in_database,
    %(database)s::text IS NULL OR EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = %(database)s::text)
        AS database_exists,
    EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t                 -- catalogs only: to_regclass('cron.…')
              JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid      -- raises without USAGE on cron
              JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'cron' AND c.relname = 'job_run_details' AND NOT t.tgisinternal) AS has_notify_trigger

-- name: pushdown_submit
-- Create (or re-attach to) a pushdown submission; see migration 0002 for pgcron.submit().
SELECT submission_id, jobid, reattached
  FROM pgcron.submit(%(command)s, %(key)s, %(database)s, %(username)s, %(timeout)s, %(top_level)s)

-- name: pushdown_state
-- The state of many submissions in one query: the submission row, the run that executed it (the claimed run of
-- the procedure path, the single run of the one-shot path) and whether that run's backend is still alive.
WITH s AS (
    SELECT * FROM pgcron.submission WHERE id = ANY(%(ids)s::bigint[])
)
SELECT DISTINCT ON (s.id)
       s.id, s.key, s.jobid, s.top_level, s.command, s.database, s.username, s.timeout,
       s.submitted_at, s.claimed_at, s.claimed_pid, s.finished_at, s.outcome, s.rows, s.sqlstate, s.error,
       s.cancel_requested_at, s.job_removed_at,
       -- which path ran it (migration 0006; read through jsonb so an engine without lanes still answers)
       coalesce(to_jsonb(s) ->> 'via', 'job') AS via, (to_jsonb(s) ->> 'lane_worker')::int AS lane_worker,
       d.runid, d.status, d.return_message, d.start_time, d.end_time, d.job_pid,
       extract(epoch FROM clock_timestamp() - s.finished_at)::float8 AS finished_age,
       EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                WHERE a.pid = coalesce(s.claimed_pid, d.job_pid)) AS backend_alive
  FROM s
  LEFT JOIN cron.job_run_details d
         ON d.jobid = s.jobid
        AND (s.top_level
             OR d.job_pid = s.claimed_pid
             -- In background-worker mode the launcher records a run's pid only if it sees the worker alive;
             -- a statement that ends first (a fast failure on a busy server) leaves job_pid NULL for good.
             -- A job's runs never overlap, so the claiming run is the first pid-less one that had not ended
             -- before the claim: earlier firings ended before it, repeat firings start after it ends.
             OR (d.job_pid IS NULL AND s.claimed_at IS NOT NULL
                 AND (d.end_time IS NULL OR d.end_time >= s.claimed_at)))
        -- >=: the floor is cron.runid_seq's last_value, which is the *next* runid while the sequence is
        -- unused (is_called = false), so on a fresh server the first run's runid equals the floor
        AND d.runid >= s.runid_floor
        AND d.runid >= (SELECT min(runid_floor) FROM s)   -- a primary-key range scan of recent runs only
 ORDER BY s.id,
          (s.top_level OR d.job_pid IS NOT NULL) DESC NULLS LAST,   -- the run of the claiming pid first
          CASE WHEN s.top_level OR d.job_pid IS NOT NULL THEN -d.runid ELSE d.runid END NULLS LAST

-- name: pushdown_admit
-- Give this role's queued submissions their jobs while pg_cron has slots for them (migration 0007).
SELECT submission_id, jobid FROM pgcron.admit_queued()

-- name: pushdown_attach
-- Find the caller's own submission by its key (keys are scoped per submitting role since migration 0004).
SELECT id FROM pgcron.submission WHERE submitted_by = current_user AND key = %(key)s

-- name: pushdown_latest_attempt
-- The newest attempt of a retried submission (pgcron.pushdown.attempts): keys <key>, <key>#2, <key>#3, ...
-- of the caller's own submissions (keys are per submitting role), walked in this one statement. Each step
-- is one probe of the (submitted_by, key) index; the walk stops at the first number not used, or at
-- max_attempts. No row: no attempt yet.
WITH RECURSIVE chain (attempt, id) AS (
    SELECT 1, s.id
      FROM pgcron.submission s
     WHERE s.submitted_by = current_user AND s.key = %(key)s::text
    UNION ALL
    SELECT c.attempt + 1, s.id
      FROM chain c
      JOIN pgcron.submission s
        ON s.submitted_by = current_user
       AND s.key = %(key)s::text || '#' || (c.attempt + 1)::text
     WHERE c.attempt < %(max_attempts)s::integer
)
SELECT attempt, id FROM chain ORDER BY attempt DESC LIMIT 1

-- name: pushdown_cancel
-- Stop a submission: never runs if not started, its statement is canceled if running.
SELECT pgcron.cancel_submission(%(id)s) AS result

-- name: pushdown_run_channel
-- The LISTEN channel of this role's run events (migration 0004: one unguessable channel per role).
SELECT pgcron.run_channel() AS channel

-- name: pushdown_lane_fallback
-- A lane submission its lane did not take (migration 0006): its own job now, atomically, or nothing.
SELECT pgcron.lane_fallback(%(id)s) AS fell_back
