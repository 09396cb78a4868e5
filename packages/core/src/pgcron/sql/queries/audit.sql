-- Named queries of the run audit (pgcron.audit): the jobs to audit, the runs in the window with the facts
-- pgcron.runstate needs, and the server facts that decide fire times (cron.timezone, pg_cron version).

-- name: audit_context
SELECT now() AS now,
       (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_cron') AS extversion,
       (SELECT s.setting FROM pg_catalog.pg_settings s WHERE s.name = 'cron.timezone') AS timezone_setting,
       (SELECT s.setting FROM pg_catalog.pg_settings s WHERE s.name = 'cron.use_background_workers')
           AS use_background_workers,
       to_regprocedure('pgcron.cron_timezone()') IS NOT NULL AS has_timezone_function,
       to_regclass('pgcron.applied_job') IS NOT NULL AS has_apply_record,
       (SELECT min(a.backend_start) FROM pg_catalog.pg_stat_activity a
         WHERE a.backend_type = 'pg_cron launcher') AS launcher_start;

-- name: audit_timezone
-- cron.timezone is superuser-only to read; the engine's SECURITY DEFINER helper (migration 0002) reads it.
SELECT pgcron.cron_timezone() AS timezone;

-- name: audit_jobs
SELECT j.jobid, j.jobname::text AS jobname, j.schedule, j.active, j.username
  FROM cron.job j
 WHERE (%(prefix)s::text IS NULL OR starts_with(j.jobname::text, %(prefix)s::text))
   AND (%(jobname)s::text IS NULL OR j.jobname::text = %(jobname)s::text)
 ORDER BY j.jobid;

-- name: audit_created
SELECT a.jobid, a.created_at, a.spec FROM pgcron.applied_job a WHERE a.jobid = ANY (%(jobids)s::bigint[]);

-- name: audit_first_runs
-- When each job first ran: without a creation time, the audit does not expect fire times before it.
SELECT d.jobid, min(d.start_time) AS first_start
  FROM cron.job_run_details d
 WHERE d.jobid = ANY (%(jobids)s::bigint[])
 GROUP BY d.jobid;

-- name: audit_runs
SELECT d.runid, d.jobid, d.job_pid, d.command, d.status, d.return_message, d.start_time, d.end_time,
       CASE WHEN d.job_pid IS NULL OR d.status = 'failed' THEN NULL
            ELSE EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                          WHERE a.pid = d.job_pid AND a.backend_type IN ('pg_cron', 'client backend')
                            AND (a.backend_start IS NULL
                                 OR a.backend_start <= coalesce(d.end_time, d.start_time, clock_timestamp())
                                                       + interval '1 second'))
       END AS pid_alive,
       CASE WHEN d.job_pid IS NULL OR d.status = 'failed' THEN NULL
            ELSE (SELECT a.backend_type FROM pg_catalog.pg_stat_activity a WHERE a.pid = d.job_pid LIMIT 1)
       END AS job_backend_type,
       CASE WHEN d.status IN ('succeeded', 'failed') THEN false
            ELSE EXISTS (SELECT 1 FROM cron.job_run_details n WHERE n.jobid = d.jobid AND n.runid > d.runid)
       END AS newer_run
  FROM cron.job_run_details d
 WHERE d.jobid = ANY (%(jobids)s::bigint[])
   AND (d.start_time >= %(since)s::timestamptz
        OR (d.start_time IS NULL AND d.status NOT IN ('succeeded', 'failed')))
 ORDER BY d.jobid, d.runid;
