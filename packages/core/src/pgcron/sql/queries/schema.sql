-- Named queries of the engine-schema runner (pgcron.schema).

-- name: schema_lock
-- One installer at a time; the lock ends with the transaction. The key is pgcron's own constant.
SELECT pg_advisory_xact_lock(%(key)s::bigint);

-- name: has_version_table
SELECT to_regclass('pgcron.schema_version') IS NOT NULL AS present;

-- name: applied_versions
SELECT v.version, v.name, v.installed_at, v.installed_by FROM pgcron.schema_version v ORDER BY v.version;

-- name: record_version
INSERT INTO pgcron.schema_version (version, name) VALUES (%(version)s::integer, %(name)s::text)
ON CONFLICT (version) DO NOTHING;
