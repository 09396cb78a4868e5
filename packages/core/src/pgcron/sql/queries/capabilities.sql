-- Named queries for Client.capabilities(): run once per connection. Everything here works for any role;
-- what needs a privilege (cron.* settings) is read from pg_settings, which hides rows it may not show.

-- name: server_facts
SELECT (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_cron') AS extversion,
       (SELECT v.default_version FROM pg_catalog.pg_available_extensions v WHERE v.name = 'pg_cron')
           AS default_version,
       current_setting('server_version_num')::integer AS server_version_num,
       current_database() AS current_database,
       current_user::text AS current_user,
       coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), false)
           AS is_superuser,
       to_regclass('pgcron.schema_version') IS NOT NULL AS has_schema_version;

-- name: cron_settings
SELECT s.name, s.setting FROM pg_catalog.pg_settings s WHERE s.name LIKE 'cron.%%' ORDER BY s.name;

-- name: launcher
SELECT a.pid, a.backend_start
  FROM pg_catalog.pg_stat_activity a
 WHERE a.backend_type = 'pg_cron launcher'
 ORDER BY a.backend_start
 LIMIT 1;

-- name: notify_trigger
-- Looked up through the catalogs, so it works without USAGE on schema cron.
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                WHERE t.tgrelid = c.oid AND t.tgname = 'pgcron_run_notify' AND t.tgenabled <> 'D')
           AS installed,
       has_table_privilege(c.oid, 'TRIGGER') AS may_create
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'cron' AND c.relname = 'job_run_details';

-- name: probe_schedule
-- Used inside a rolled-back savepoint when cron.* settings are hidden (facts §10.3): does the running
-- library accept this schedule? The job row never commits.
SELECT cron.schedule(%(schedule)s::text, 'SELECT 1'::text) AS jobid;
