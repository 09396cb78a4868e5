-- Named queries of the run feed (pgcron.runfeed): runs in runid order after a cursor, for observers that
-- must see every run exactly once (the Dagster sensor). Same facts as list_runs so pgcron.runstate decides
-- each run's status; the runid range predicate walks the primary key, so a tick costs the same whatever
-- the history size.

-- name: runfeed_after
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
       clock_timestamp() AS observed_at
  FROM cron.job_run_details d
 WHERE (d.runid > %(after_runid)s::bigint OR d.runid = ANY (%(also)s::bigint[]))  -- also: runs re-read
   AND (%(jobids)s::bigint[] IS NULL OR d.jobid = ANY (%(jobids)s::bigint[]))
 ORDER BY d.runid
 LIMIT %(limit)s::integer;

-- name: runfeed_start
-- The highest runid that started before a time: where a new observer begins. Walks the primary key
-- backwards from the newest run and stops at the first older one.
SELECT coalesce((SELECT d.runid FROM cron.job_run_details d
                  WHERE d.start_time < %(before)s::timestamptz
                  ORDER BY d.runid DESC LIMIT 1), 0) AS runid,
       clock_timestamp() AS now;

-- name: run_channel_exists
-- Whether the engine names a per-role notification channel (pgcron.run_channel(), migration 0004).
SELECT pg_catalog.to_regprocedure('pgcron.run_channel()') IS NOT NULL AS present;

-- name: run_channel
SELECT pgcron.run_channel() AS channel;
