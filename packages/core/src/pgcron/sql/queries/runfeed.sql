-- Named queries of the run feed (pgcron.runfeed): runs in runid order after a cursor, for observers that
-- must see every run exactly once (the Dagster sensor). It extends the one run-facts projection (run_facts,
-- runs.sql), so pgcron.runstate decides each run's status as everywhere else; the runid range predicate
-- walks the primary key, so a tick costs the same whatever the history size.

-- name: runfeed_after
-- extends: run_facts
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
