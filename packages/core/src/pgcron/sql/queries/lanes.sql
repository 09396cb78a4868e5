-- Lanes (migration 0006_lanes.sql, docs/adr/0006-lanes.md): the caller's own lane in this database.

-- name: lane_start
-- Start or resize the caller's lane: jobs pgcron:lane:1..N owned by the caller.
SELECT pgcron.lane_start(%(workers)s::integer) AS workers

-- name: lane_stop
-- Ask the caller's lane to stop; removes the jobs of workers that have ended. Returns how many still run.
SELECT pgcron.lane_stop() AS running

-- name: lane_status
-- One row per worker of the caller's lane (its job, its last report, whether its backend is alive), plus the
-- number of workers asked for. Row security shows only the caller's own rows of every table read here.
WITH w AS (
    SELECT * FROM pgcron.lane_worker WHERE role = current_user AND database = current_database()
), j AS (
    SELECT jobid, schedule, active, split_part(jobname, ':', 3)::int AS worker
      FROM cron.job
     WHERE username = current_user AND database = current_database()
       AND jobname ~ '^pgcron:lane:[0-9]{1,2}$' AND command = 'CALL pgcron.lane_run(' || split_part(jobname, ':', 3) || ')'
)
SELECT current_user::text AS role, current_database()::text AS database,
       coalesce((SELECT c.workers FROM pgcron.lane_config c
                  WHERE c.role = current_user AND c.database = current_database()), 0) AS wanted,
       x.*
  FROM (SELECT 1) AS one   -- one row even without a lane: who is asking, and that nothing is wanted
  LEFT JOIN (
    SELECT coalesce(w.worker, j.worker) AS worker, j.jobid, j.schedule, coalesce(j.active, false) AS active,
           w.pid, w.state, w.submission_id, coalesce(w.served, 0) AS served, coalesce(w.runs, 0) AS runs,
           w.run_started_at, w.last_claim_at,
           extract(epoch FROM clock_timestamp() - w.heartbeat_at)::float8 AS heartbeat_age,
           (w.pid IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                                            WHERE a.pid = w.pid AND a.usename = current_user)) AS alive
      FROM w FULL JOIN j ON j.worker = w.worker
  ) AS x ON true
 ORDER BY x.worker

-- name: lane_pause
-- A short server-side pause between two looks at a lane that is starting or stopping.
SELECT pg_catalog.pg_sleep(%(seconds)s::float8) AS paused

-- name: lane_slots
-- Every lane worker job the caller can see (a superuser or the cron owner sees all roles'), for doctor:
-- each holds one of cron.max_running_jobs' slots while it runs.
SELECT username::text AS role, database::text AS database, count(*)::int AS workers
  FROM cron.job
 WHERE jobname ~ '^pgcron:lane:[0-9]{1,2}$' AND active AND schedule <> '0 0 31 2 *'
   AND command = 'CALL pgcron.lane_run(' || split_part(jobname, ':', 3) || ')'
 GROUP BY 1, 2
 ORDER BY 1, 2
