-- Named queries of `pgcron schema grant ROLE` (pgcron.grants). The GRANT statements themselves name a role,
-- a database and schemas, so they are composed with psycopg.sql.Identifier and run by the database seam
-- (AsyncDatabase.execute_composed); these are the read-only checks around them. A missing schema or
-- function comes back false (to_regnamespace / to_regprocedure give NULL, never an error).

-- name: grant_facts
-- Before granting: does the role exist, who grants, and what the grantor can pass on.
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = %(role)s::text) AS role_exists,
       current_user::text AS grantor,
       pg_catalog.current_database()::text AS database,
       pg_catalog.to_regnamespace('cron') IS NOT NULL AS cron_exists,
       pg_catalog.to_regnamespace('pgcron') IS NOT NULL AS pgcron_exists,
       coalesce(pg_catalog.has_function_privilege(
           current_user, pg_catalog.to_regprocedure(%(schedule_in_database)s::text)::oid,
           'EXECUTE WITH GRANT OPTION'), false) AS grantor_schedule_in_database,
       coalesce(pg_catalog.has_function_privilege(
           current_user, pg_catalog.to_regprocedure(%(alter_job)s::text)::oid,
           'EXECUTE WITH GRANT OPTION'), false) AS grantor_alter_job,
       (SELECT n.nspowner::regrole::text FROM pg_catalog.pg_namespace n WHERE n.nspname = 'cron') AS cron_owner;

-- name: grant_held
-- After granting (in the same transaction): what the role really holds. PostgreSQL only warns when a GRANT
-- grants nothing (the grantor lacks the grant option).
SELECT pg_catalog.has_database_privilege(%(role)s::name, pg_catalog.current_database(), 'CONNECT') AS connect,
       coalesce(pg_catalog.has_schema_privilege(
           %(role)s::name, pg_catalog.to_regnamespace('cron')::oid, 'USAGE'), false) AS cron,
       coalesce(pg_catalog.has_schema_privilege(
           %(role)s::name, pg_catalog.to_regnamespace('pgcron')::oid, 'USAGE'), false) AS pgcron,
       coalesce(pg_catalog.has_function_privilege(
           %(role)s::name, pg_catalog.to_regprocedure(%(schedule_in_database)s::text)::oid, 'EXECUTE'), false)
           AS schedule_in_database,
       coalesce(pg_catalog.has_function_privilege(
           %(role)s::name, pg_catalog.to_regprocedure(%(alter_job)s::text)::oid, 'EXECUTE'), false) AS alter_job;
