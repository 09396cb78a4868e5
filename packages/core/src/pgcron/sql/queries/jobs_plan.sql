-- Named queries of jobs as code (pgcron.plan): read the namespace's jobs and the apply record, then apply a
-- plan with one statement per kind of change (arrays unnested), so 10,000 jobs take a handful of round trips.
-- A plan manages the jobs named '<namespace>:…' whose role is one it declares (docs/adr/0004-jobs-namespace.md,
-- docs/adr/0005-trust-boundary.md point 7); the filter on the role is pgcron.plan's, these queries read the
-- whole namespace so that the plan can name the jobs it leaves alone.
--
-- search_path: every transaction of plan/apply starts with jobs_session (search_path = pg_catalog, pg_temp),
-- and every call below is schema-qualified anyway, so no function or operator that a role creates in a
-- schema of the caller's search_path can be a better match than the built-in one (issue 11, row 7). The
-- multi-argument form `unnest(a, b, …)` only exists unqualified, hence `ROWS FROM (pg_catalog.unnest(a), …)`.

-- name: jobs_session
-- SET LOCAL for the rest of this transaction; the previous values come back for jobs_session_restore (an apply
-- inside the caller's own transaction must not leave its search_path behind).
SELECT pg_catalog.current_setting('search_path') AS search_path,
       pg_catalog.current_setting('lock_timeout') AS lock_timeout,
       pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true) AS new_search_path,
       pg_catalog.set_config('lock_timeout', %(lock_timeout)s::text, true) AS new_lock_timeout;

-- name: jobs_session_restore
SELECT pg_catalog.set_config('search_path', %(search_path)s::text, true) AS search_path,
       pg_catalog.set_config('lock_timeout', %(lock_timeout)s::text, true) AS lock_timeout;

-- name: jobs_context
SELECT pg_catalog.current_database()::text AS current_database,
       current_user::text AS current_user,
       coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user),
                false) AS is_superuser,
       (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron'::name)
           AS extversion,
       coalesce((SELECT pg_catalog.bool_or(pg_catalog.has_function_privilege(p.oid, 'EXECUTE'::text))
                   FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
                  WHERE n.nspname OPERATOR(pg_catalog.=) 'cron'::name
                    AND p.proname OPERATOR(pg_catalog.=) 'schedule_in_database'::name), false)
           AS can_schedule_in_database,
       coalesce((SELECT pg_catalog.bool_or(pg_catalog.has_function_privilege(p.oid, 'EXECUTE'::text))
                   FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
                  WHERE n.nspname OPERATOR(pg_catalog.=) 'cron'::name
                    AND p.proname OPERATOR(pg_catalog.=) 'alter_job'::name), false)
           AS can_alter_job,
       -- Who may change other roles' jobs (a superuser): only that applier locks and compares (FOR UPDATE needs
       -- UPDATE on cron.job; everybody else can only change their own jobs through pg_cron's functions).
       pg_catalog.has_table_privilege('cron.job'::text, 'UPDATE'::text) AS can_update_cron_job,
       pg_catalog.to_regclass('pgcron.applied_job'::text) IS NOT NULL AS has_apply_record,
       pg_catalog.to_regprocedure('pgcron.record_applied_jobs(bigint[],jsonb[],boolean[])'::text) IS NOT NULL
           AND pg_catalog.to_regprocedure('pgcron.forget_applied_jobs(text,bigint[])'::text) IS NOT NULL
           AS has_record_functions,
       pg_catalog.to_regprocedure('pgcron.purge_history(interval,integer,text)'::text) IS NOT NULL
           AS has_purge_procedure,
       -- a jobs file's [lanes] (migration 0006): the caller's lane is read with lane_status
       pg_catalog.to_regprocedure('pgcron.lane_start(integer)'::text) IS NOT NULL
           AND pg_catalog.to_regclass('pgcron.lane_config'::text) IS NOT NULL
           AS has_lanes;

-- name: jobs_owned
-- Every visible job of the namespace (a superuser sees all roles' jobs, another role its own): pgcron.plan
-- keeps those of the plan's roles and reports the others.
SELECT j.jobid, j.jobname::text AS jobname, j.schedule, j.command, j.database, j.username, j.active
  FROM cron.job j
 WHERE pg_catalog.starts_with(j.jobname::text, %(prefix)s::text)
 ORDER BY j.jobname::text, j.jobid;

-- name: jobs_applied_records
-- Row security shows a role its own records (a superuser all). A record counts only while its name and role
-- still are those of its job.
SELECT a.jobid, a.spec
  FROM pgcron.applied_job a
  JOIN cron.job j ON j.jobid OPERATOR(pg_catalog.=) a.jobid
                 AND j.username OPERATOR(pg_catalog.=) a.username::text
                 AND j.jobname::text OPERATOR(pg_catalog.=) a.jobname::text
 WHERE a.namespace OPERATOR(pg_catalog.=) %(namespace)s::text;

-- name: jobs_lock_try
-- The planned rows that nobody else holds, locked until the apply commits; the missing ones are held (or gone).
SELECT j.jobid, j.jobname::text AS jobname, j.schedule, j.command, j.database, j.username, j.active
  FROM cron.job j
 WHERE j.jobid OPERATOR(pg_catalog.=) ANY (%(jobids)s::bigint[])
 ORDER BY j.jobid
   FOR UPDATE OF j SKIP LOCKED;

-- name: jobs_lock_wait
-- The rows jobs_lock_try could not take: wait for them, at most lock_timeout (jobs_session).
SELECT j.jobid, j.jobname::text AS jobname, j.schedule, j.command, j.database, j.username, j.active
  FROM cron.job j
 WHERE j.jobid OPERATOR(pg_catalog.=) ANY (%(jobids)s::bigint[])
 ORDER BY j.jobid
   FOR UPDATE OF j;

-- name: jobs_create_in_database
SELECT t.name AS jobname,
       cron.schedule_in_database(job_name := t.name, schedule := t.schedule, command := t.command,
                                 database := t.database, username := t.username, active := t.active) AS jobid
  FROM ROWS FROM (pg_catalog.unnest(%(names)s::text[]), pg_catalog.unnest(%(schedules)s::text[]),
                  pg_catalog.unnest(%(commands)s::text[]), pg_catalog.unnest(%(databases)s::text[]),
                  pg_catalog.unnest(%(usernames)s::text[]), pg_catalog.unnest(%(actives)s::boolean[]))
       AS t(name, schedule, command, database, username, active);

-- name: jobs_create_plain
-- For roles without EXECUTE on schedule_in_database: the job runs as the current user in cron.database_name.
SELECT t.name AS jobname, cron.schedule(t.name, t.schedule, t.command) AS jobid
  FROM ROWS FROM (pg_catalog.unnest(%(names)s::text[]), pg_catalog.unnest(%(schedules)s::text[]),
                  pg_catalog.unnest(%(commands)s::text[]))
       AS t(name, schedule, command);

-- name: jobs_alter
-- NULL leaves a field unchanged (alter_job's own rule); every row changes at least one field. The role is
-- never changed: a job of another role is never adopted (ADR 0005 point 7).
SELECT t.jobid, cron.alter_job(job_id := t.jobid, schedule := t.schedule, command := t.command,
                               database := t.database, active := t.active) AS altered
  FROM ROWS FROM (pg_catalog.unnest(%(jobids)s::bigint[]), pg_catalog.unnest(%(schedules)s::text[]),
                  pg_catalog.unnest(%(commands)s::text[]), pg_catalog.unnest(%(databases)s::text[]),
                  pg_catalog.unnest(%(actives)s::boolean[]))
       AS t(jobid, schedule, command, database, active);

-- name: jobs_upsert_by_name
-- Without EXECUTE on alter_job: pg_cron's same-name upsert keeps the jobid and changes schedule and command
-- (and resets database to cron.database_name) of the current user's job.
SELECT t.name AS jobname, cron.schedule(t.name, t.schedule, t.command) AS jobid
  FROM ROWS FROM (pg_catalog.unnest(%(names)s::text[]), pg_catalog.unnest(%(schedules)s::text[]),
                  pg_catalog.unnest(%(commands)s::text[]))
       AS t(name, schedule, command);

-- name: jobs_unschedule
SELECT t.jobid, cron.unschedule(t.jobid) AS removed
  FROM pg_catalog.unnest(%(jobids)s::bigint[]) AS t(jobid);

-- name: jobs_record_apply
-- pgcron.record_applied_jobs (migration 0004) reads name, namespace and role from cron.job and refuses a job
-- that is not the caller's (42501) or a spec it cannot store (22023).
SELECT pgcron.record_applied_jobs(%(jobids)s::bigint[], %(specs)s::text[]::jsonb[], %(created)s::boolean[])
       AS recorded;

-- name: jobs_record_forget
-- The caller's records of pruned jobs, and of jobs that no longer exist.
SELECT pgcron.forget_applied_jobs(%(namespace)s::text, %(jobids)s::bigint[]) AS forgotten;
