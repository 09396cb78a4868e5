-- Named queries of the engine-schema runner (pgcron.schema). The installer is privileged: built-ins are
-- schema-qualified, and pgcron.schema pins search_path = pg_catalog, pg_temp while it installs.

-- name: schema_lock
-- One installer at a time; the lock ends with the transaction. The key is pgcron's own constant.
SELECT pg_catalog.pg_advisory_xact_lock(%(key)s::bigint);

-- name: has_version_table
SELECT pg_catalog.to_regclass('pgcron.schema_version') IS NOT NULL AS present;

-- name: maintenance_job_repair_state
-- pgcron.ensure_maintenance_job() exists from migration 0004 on; only the engine owner or a superuser may run
-- it (its EXECUTE is revoked from PUBLIC). The owner is named in the message when this role may not.
SELECT p.oid IS NOT NULL AS present,
       p.oid IS NOT NULL AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE') AS executable,
       (SELECT pg_catalog.pg_get_userbyid(n.nspowner) FROM pg_catalog.pg_namespace n WHERE n.nspname = 'pgcron')
           AS engine_owner
  FROM (SELECT pg_catalog.to_regprocedure('pgcron.ensure_maintenance_job()')::oid AS oid) p;

-- name: ensure_maintenance_job
-- (Re)creates pgcron:maintenance as the engine owner, active, with its one command; returns its jobid.
SELECT pgcron.ensure_maintenance_job() AS jobid;

-- name: applied_versions
SELECT v.version, v.name, v.installed_at, v.installed_by FROM pgcron.schema_version v ORDER BY v.version;

-- name: record_version
INSERT INTO pgcron.schema_version (version, name) VALUES (%(version)s::integer, %(name)s::text)
ON CONFLICT (version) DO NOTHING;

-- name: notify_trigger_installed
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                 JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'cron' AND c.relname = 'job_run_details' AND t.tgname = 'pgcron_run_notify')
       AS installed;

-- name: schema_catalog
-- A canonical description of everything the engine schema owns, for comparing two installs: relations and
-- columns, constraints, indexes, policies, functions (with a hash of their body), privileges, the trigger on
-- cron.job_run_details and the engine's own pg_cron jobs. OIDs and timestamps are left out on purpose.
SELECT 'relation' AS kind, c.relname AS name,
       pg_catalog.concat_ws(' ', c.relkind, c.relrowsecurity, c.relacl::text) AS definition
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'pgcron'
UNION ALL
SELECT 'column', c.relname || '.' || a.attname,
       pg_catalog.concat_ws(' ', pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity, a.attnum,
                 pg_catalog.pg_get_expr(d.adbin, d.adrelid))
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE n.nspname = 'pgcron' AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'p')
UNION ALL
SELECT 'constraint', c.relname || '.' || k.conname, pg_catalog.pg_get_constraintdef(k.oid)
  FROM pg_catalog.pg_constraint k
  JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'pgcron'
UNION ALL
SELECT 'index', i.indexname, i.indexdef FROM pg_catalog.pg_indexes i WHERE i.schemaname = 'pgcron'
UNION ALL
SELECT 'policy', p.tablename || '.' || p.policyname,
       pg_catalog.concat_ws(' ', p.cmd, p.permissive, p.roles::text, p.qual, p.with_check)
  FROM pg_catalog.pg_policies p WHERE p.schemaname = 'pgcron'
UNION ALL
SELECT 'function', p.oid::regprocedure::text,
       pg_catalog.concat_ws(' ', p.prokind, p.prosecdef, p.provolatile, pg_catalog.pg_get_function_result(p.oid), p.proconfig::text,
                 p.proacl::text, pg_catalog.md5(p.prosrc))
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'pgcron'
UNION ALL
SELECT 'schema', n.nspname, n.nspacl::text FROM pg_catalog.pg_namespace n WHERE n.nspname = 'pgcron'
UNION ALL
SELECT 'trigger', t.tgname, pg_catalog.pg_get_triggerdef(t.oid)
  FROM pg_catalog.pg_trigger t
  JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'cron' AND c.relname = 'job_run_details' AND NOT t.tgisinternal
UNION ALL
SELECT 'cron_job', j.jobname::text, pg_catalog.concat_ws(' ', j.schedule, j.command, j.active)
  FROM cron.job j
 WHERE pg_catalog.starts_with(j.jobname::text, 'pgcron:') AND NOT pg_catalog.starts_with(j.jobname::text, 'pgcron:run:')
ORDER BY 1, 2, 3;
