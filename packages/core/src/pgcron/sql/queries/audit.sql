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
-- extends: run_facts
 WHERE d.jobid = ANY (%(jobids)s::bigint[])
   AND (d.start_time >= %(since)s::timestamptz
        OR (d.start_time IS NULL AND d.status NOT IN ('succeeded', 'failed')))
 ORDER BY d.jobid, d.runid;
