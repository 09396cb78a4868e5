-- Named queries on cron.job_run_details, with the facts pgcron.runstate needs to decide a run's status:
--   pid_alive         the run's job_pid is still a backend that started before the row's last change
--                     (background-worker mode flips multi-statement runs to succeeded early)
--   job_backend_type  'pg_cron' for a background worker: tells the mode when cron.* settings are hidden
--   newer_run         a later run of the same job exists (pg_cron never overlaps a job with itself, so an
--                     older unfinished row is dead)
--   launcher_start    backend_start of the pg_cron launcher (rows left unfinished before it are dead)
--   dispatched_by     an upper bound of when an unfinished row was dispatched: the start_time of the next
--                     later run that has one (runids are handed out in dispatch order by the one launcher);
--                     connecting rows have no start_time of their own
--   observed_at       the server's clock when the row was read
-- pg_stat_activity is only consulted for rows that are not plainly terminal.

-- name: run_facts
-- The one run-facts projection: every reader of cron.job_run_details (list_runs, runfeed_after, audit_runs)
-- extends it with its own WHERE / ORDER BY (`-- extends: run_facts`, composed by pgcron.sql), so each run
-- is decided (pgcron.runstate) from the same facts wherever it is read.
WITH launcher AS (
    SELECT min(a.backend_start) AS backend_start
      FROM pg_catalog.pg_stat_activity a
     WHERE a.backend_type = 'pg_cron launcher'
)
SELECT d.runid, d.jobid, d.job_pid, d.database, d.username, d.command, d.status, d.return_message,
       d.start_time, d.end_time,
       CASE WHEN d.job_pid IS NULL OR d.status = 'failed' THEN NULL
            ELSE EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                          WHERE a.pid = d.job_pid
                            AND a.backend_type IN ('pg_cron', 'client backend')
                            AND (a.backend_start IS NULL
                                 OR a.backend_start <= coalesce(d.end_time, d.start_time, clock_timestamp())
                                                       + interval '1 second'))
       END AS pid_alive,
       CASE WHEN d.job_pid IS NULL OR d.status = 'failed' THEN NULL
            ELSE (SELECT a.backend_type FROM pg_catalog.pg_stat_activity a WHERE a.pid = d.job_pid LIMIT 1)
       END AS job_backend_type,
       CASE WHEN d.status IN ('succeeded', 'failed') THEN false
            ELSE EXISTS (SELECT 1 FROM cron.job_run_details n WHERE n.jobid = d.jobid AND n.runid > d.runid)
       END AS newer_run,
       (SELECT l.backend_start FROM launcher l) AS launcher_start,
       CASE WHEN d.status IN ('succeeded', 'failed') OR d.start_time IS NOT NULL THEN NULL
            ELSE (SELECT n.start_time FROM cron.job_run_details n
                   WHERE n.runid > d.runid AND n.start_time IS NOT NULL
                   ORDER BY n.runid LIMIT 1)
       END AS dispatched_by,
       clock_timestamp() AS observed_at
  FROM cron.job_run_details d

-- name: list_runs
-- extends: run_facts
 WHERE (%(jobid)s::bigint IS NULL OR d.jobid = %(jobid)s::bigint)
   AND (%(runid)s::bigint IS NULL OR d.runid = %(runid)s::bigint)
   AND (%(before_runid)s::bigint IS NULL OR d.runid < %(before_runid)s::bigint)
   AND (%(raw_statuses)s::text[] IS NULL OR d.status = ANY (%(raw_statuses)s::text[]))
   AND (%(since)s::timestamptz IS NULL
        OR d.start_time >= %(since)s::timestamptz
        OR (d.start_time IS NULL AND d.status NOT IN ('succeeded', 'failed')))
 ORDER BY d.runid DESC
 LIMIT %(limit)s::integer;

-- name: submission_outcomes
-- The statement's own outcome of pushdown runs (the wrapper job's row only says CALL). Row-level security
-- limits it to the caller's own submissions.
SELECT s.id, s.username, s.claimed_pid, s.outcome, s.rows, s.error
  FROM pgcron.submission s
 WHERE s.id = ANY (%(ids)s::bigint[]);
