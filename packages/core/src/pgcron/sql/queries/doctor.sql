-- Named queries of `pgcron doctor`. Each works for any role: what needs a privilege (cron.* settings are
-- superuser-only, facts §6) comes back NULL, and the check then says it could not look.

-- name: doctor_facts
SELECT current_database() AS current_database,
       current_user::text AS current_user,
       coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), false)
           AS is_superuser,
       pg_catalog.pg_has_role(current_user, 'pg_read_all_settings', 'USAGE') AS reads_all_settings,
       pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS reads_all_stats,
       (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_cron') AS extversion,
       (SELECT v.default_version FROM pg_catalog.pg_available_extensions v WHERE v.name = 'pg_cron')
           AS default_version,
       has_schema_privilege(current_user, 'cron', 'USAGE') AS cron_usage,
       (SELECT a.datname FROM pg_catalog.pg_stat_activity a WHERE a.backend_type = 'pg_cron launcher' LIMIT 1)
           AS launcher_database,
       (SELECT a.backend_start FROM pg_catalog.pg_stat_activity a
         WHERE a.backend_type = 'pg_cron launcher' LIMIT 1) AS launcher_start,
       (SELECT s.setting FROM pg_catalog.pg_settings s WHERE s.name = 'shared_preload_libraries')
           AS shared_preload_libraries,
       current_setting('max_worker_processes')::integer AS max_worker_processes,
       current_setting('max_connections')::integer AS max_connections,
       current_setting('max_parallel_workers')::integer AS max_parallel_workers,
       to_regclass('pgcron.schema_version') IS NOT NULL AS has_engine_schema,
       coalesce((SELECT bool_or(has_function_privilege(p.oid, 'EXECUTE'))
                   FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                  WHERE n.nspname = 'cron' AND p.proname = 'alter_job'), false) AS can_alter_job,
       coalesce((SELECT bool_or(has_function_privilege(p.oid, 'EXECUTE'))
                   FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                  WHERE n.nspname = 'cron' AND p.proname = 'schedule_in_database'), false)
           AS can_schedule_in_database;

-- name: doctor_cron_settings
SELECT s.name, s.setting FROM pg_catalog.pg_settings s WHERE s.name LIKE 'cron.%%';

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
            ELSE (SELECT count(*) FROM cron.job_run_details) END AS rows_estimate,
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
SELECT count(*) AS stuck
  FROM cron.job_run_details d
 WHERE d.status NOT IN ('succeeded', 'failed')
   AND coalesce(d.start_time, '-infinity') < %(launcher_start)s::timestamptz;
