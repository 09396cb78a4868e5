-- Named queries of `pgcron doctor`. Each works for any role in any database, pg_cron installed or not: what
-- needs a privilege (cron.* settings are superuser-only, facts §6) or an object that may be missing (schema
-- cron, schema pgcron) is looked up in the catalogs first and comes back NULL, and the check then says it
-- could not look. Doctor is often run by a superuser: every function call is schema-qualified, and
-- pgcron.doctor pins search_path = pg_catalog, pg_temp while it runs (so operators are the built-ins too).

-- name: doctor_facts
SELECT pg_catalog.current_database()::text AS current_database,
       current_user::text AS current_user,
       coalesce(r.rolsuper, false) AS is_superuser,
       coalesce(r.rolbypassrls, false) AS bypasses_rls,
       pg_catalog.pg_has_role(current_user, 'pg_read_all_settings', 'USAGE') AS reads_all_settings,
       pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS reads_all_stats,
       (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_cron') AS extversion,
       (SELECT v.default_version FROM pg_catalog.pg_available_extensions v WHERE v.name = 'pg_cron')
           AS default_version,
       EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions v WHERE v.name = 'pg_cron') AS extension_available,
       coalesce((SELECT pg_catalog.has_schema_privilege(n.oid, 'USAGE')
                   FROM pg_catalog.pg_namespace n WHERE n.nspname = 'cron'), false) AS cron_usage,
       -- Row security on cron.job shows each role its own jobs; these roles see every job.
       coalesce(r.rolsuper, false) OR coalesce(r.rolbypassrls, false)
           OR coalesce((SELECT pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')
                          FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname = 'cron' AND c.relname = 'job'), false) AS sees_all_jobs,
       (SELECT a.datname::text FROM pg_catalog.pg_stat_activity a
         WHERE a.backend_type = 'pg_cron launcher' LIMIT 1) AS launcher_database,
       (SELECT a.backend_start FROM pg_catalog.pg_stat_activity a
         WHERE a.backend_type = 'pg_cron launcher' LIMIT 1) AS launcher_start,
       (SELECT s.setting FROM pg_catalog.pg_settings s WHERE s.name = 'shared_preload_libraries')
           AS shared_preload_libraries,
       pg_catalog.current_setting('max_worker_processes')::integer AS max_worker_processes,
       pg_catalog.current_setting('max_connections')::integer AS max_connections,
       pg_catalog.current_setting('max_parallel_workers')::integer AS max_parallel_workers,
       EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = 'pgcron') AS has_engine_schema,
       (SELECT pg_catalog.pg_get_userbyid(n.nspowner) FROM pg_catalog.pg_namespace n WHERE n.nspname = 'pgcron')
           AS engine_owner,
       -- what the engine owner (whose rights maintenance has) may do to other roles' overdue runs
       (SELECT o.rolsuper FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles o ON o.oid = n.nspowner
         WHERE n.nspname = 'pgcron') AS engine_owner_is_superuser,
       (SELECT pg_catalog.pg_has_role(n.nspowner, 'pg_signal_backend', 'USAGE') FROM pg_catalog.pg_namespace n
         WHERE n.nspname = 'pgcron') AS engine_owner_signals,
       (SELECT pg_catalog.pg_has_role(n.nspowner, 'pg_read_all_stats', 'USAGE') FROM pg_catalog.pg_namespace n
         WHERE n.nspname = 'pgcron') AS engine_owner_reads_stats,
       coalesce((SELECT pg_catalog.has_schema_privilege(n.oid, 'USAGE') AND pg_catalog.has_table_privilege(c.oid, 'SELECT')
                   FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'pgcron' AND c.relname = 'schema_version'), false) AS engine_version_readable,
       coalesce((SELECT pg_catalog.bool_or(pg_catalog.has_function_privilege(p.oid, 'EXECUTE'))
                   FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                  WHERE n.nspname = 'cron' AND p.proname = 'alter_job'), false) AS can_alter_job,
       coalesce((SELECT pg_catalog.bool_or(pg_catalog.has_function_privilege(p.oid, 'EXECUTE'))
                   FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                  WHERE n.nspname = 'cron' AND p.proname = 'schedule_in_database'), false)
           AS can_schedule_in_database
  FROM (SELECT 1) one
  LEFT JOIN pg_catalog.pg_roles r ON r.rolname = current_user;

-- name: doctor_cron_settings
-- Rows of superuser-only settings are simply absent for other roles (pg_read_all_settings sees them).
SELECT s.name, s.setting FROM pg_catalog.pg_settings s WHERE s.name LIKE 'cron.%%';

-- name: doctor_engine_version
SELECT pg_catalog.max(v.version) AS version FROM pgcron.schema_version v;

-- name: doctor_engine_jobs
-- The engine's own recurring jobs (and a leftover watchdog that migration 0004 merged into maintenance).
SELECT j.jobid, j.jobname::text AS jobname, j.schedule, j.command, j.username::text AS username,
       j.database::text AS database, j.active
  FROM cron.job j
 WHERE j.jobname IN ('pgcron:maintenance', 'pgcron:job-timeouts')
 ORDER BY j.jobid;

-- name: doctor_engine_runs
-- Finished runs of the engine job in the last 10 minutes, newest first. The runid range keeps it to the newest
-- part of the primary key (no scan of a long history: cron.job_run_details has no jobid index by default).
SELECT d.status, d.return_message, d.start_time, d.end_time
  FROM cron.job_run_details d
 WHERE d.runid > coalesce((SELECT pg_catalog.max(x.runid) FROM cron.job_run_details x), 0) - 50000
   AND d.jobid = %(jobid)s::bigint
   AND d.status IN ('succeeded', 'failed')
   AND d.start_time > pg_catalog.now() - interval '10 minutes'
 ORDER BY d.runid DESC
 LIMIT 200;

-- name: doctor_jobs
-- Every visible job with what the checks need: its role and database still exist, the role may log in.
SELECT j.jobid, j.jobname::text AS jobname, j.command, j.username, j.database, j.active,
       r.rolname IS NOT NULL AS role_exists, coalesce(r.rolcanlogin, false) AS role_can_login,
       coalesce(r.rolsuper, false) AS role_is_superuser,
       EXISTS (SELECT 1 FROM pg_catalog.pg_database d WHERE d.datname = j.database) AS database_exists
  FROM cron.job j
  LEFT JOIN pg_catalog.pg_roles r ON r.rolname = j.username
 ORDER BY j.jobid;

-- name: doctor_history
SELECT CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint
            ELSE (SELECT pg_catalog.count(*) FROM cron.job_run_details) END AS rows_estimate,
       pg_catalog.pg_total_relation_size(c.oid) AS total_bytes,
       EXISTS (SELECT 1 FROM pg_catalog.pg_index x
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = x.indkey[0]
                WHERE x.indrelid = c.oid AND a.attname = 'jobid' AND x.indisvalid) AS jobid_index,
       EXISTS (SELECT 1 FROM cron.job j
                WHERE j.command ILIKE '%%job_run_details%%' OR j.command ILIKE '%%purge_history%%')
           AS retention_job
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'cron' AND c.relname = 'job_run_details';

-- name: doctor_stuck_runs
-- Unfinished rows that started before the launcher's current incarnation: nobody will ever finish them.
SELECT pg_catalog.count(*) AS stuck
  FROM cron.job_run_details d
 WHERE d.status NOT IN ('succeeded', 'failed')
   AND coalesce(d.start_time, '-infinity') < %(launcher_start)s::timestamptz;

-- name: doctor_admission
-- How cron.max_running_jobs is shared between scheduled jobs, lanes and pushdown (migration 0007): counts only.
SELECT slot_cap, slot_cap_source, slot_reserve, lane_workers, budget, in_flight, queued, queued_own
  FROM pgcron.admission_status()
