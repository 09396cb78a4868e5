-- Named queries of jobs as code (pgcron.plan): read the owned jobs and the apply record, then apply a plan
-- with one statement per kind of change (unnest over arrays), so 10,000 jobs take a handful of round trips.
-- Owned jobs are those whose name starts with '<namespace>:' (docs/adr/0004-jobs-namespace.md).

-- name: jobs_context
SELECT current_database() AS current_database,
       current_user::text AS current_user,
       coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), false)
           AS is_superuser,
       (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_cron') AS extversion,
       coalesce((SELECT bool_or(has_function_privilege(p.oid, 'EXECUTE'))
                   FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                  WHERE n.nspname = 'cron' AND p.proname = 'schedule_in_database'), false)
           AS can_schedule_in_database,
       coalesce((SELECT bool_or(has_function_privilege(p.oid, 'EXECUTE'))
                   FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                  WHERE n.nspname = 'cron' AND p.proname = 'alter_job'), false)
           AS can_alter_job,
       to_regclass('pgcron.applied_job') IS NOT NULL AS has_apply_record,
       to_regprocedure('pgcron.purge_history(interval,integer,text)') IS NOT NULL AS has_purge_procedure;

-- name: jobs_owned
SELECT j.jobid, j.jobname::text AS jobname, j.schedule, j.command, j.database, j.username, j.active
  FROM cron.job j
 WHERE starts_with(j.jobname::text, %(prefix)s::text)
 ORDER BY j.jobname, j.jobid;

-- name: jobs_applied_records
SELECT a.jobid, a.jobname, a.spec, a.created_at, a.applied_at, a.applied_by
  FROM pgcron.applied_job a
 WHERE a.namespace = %(namespace)s::text;

-- name: jobs_create_in_database
SELECT t.name AS jobname,
       cron.schedule_in_database(job_name := t.name, schedule := t.schedule, command := t.command,
                                 database := t.database, username := t.username, active := t.active) AS jobid
  FROM unnest(%(names)s::text[], %(schedules)s::text[], %(commands)s::text[], %(databases)s::text[],
              %(usernames)s::text[], %(actives)s::boolean[]) AS t(name, schedule, command, database, username, active);

-- name: jobs_create_plain
-- For roles without EXECUTE on schedule_in_database: the job runs as the current user in cron.database_name.
SELECT t.name AS jobname, cron.schedule(t.name, t.schedule, t.command) AS jobid
  FROM unnest(%(names)s::text[], %(schedules)s::text[], %(commands)s::text[]) AS t(name, schedule, command);

-- name: jobs_alter
-- NULL leaves a field unchanged (alter_job's own rule); every row changes at least one field.
SELECT t.jobid, cron.alter_job(job_id := t.jobid, schedule := t.schedule, command := t.command,
                               database := t.database, username := t.username, active := t.active) AS altered
  FROM unnest(%(jobids)s::bigint[], %(schedules)s::text[], %(commands)s::text[], %(databases)s::text[],
              %(usernames)s::text[], %(actives)s::boolean[]) AS t(jobid, schedule, command, database, username, active);

-- name: jobs_upsert_by_name
-- Without EXECUTE on alter_job: pg_cron's same-name upsert keeps the jobid and changes schedule and command
-- (and resets database to cron.database_name) of the current user's job.
SELECT t.name AS jobname, cron.schedule(t.name, t.schedule, t.command) AS jobid
  FROM unnest(%(names)s::text[], %(schedules)s::text[], %(commands)s::text[]) AS t(name, schedule, command);

-- name: jobs_unschedule
SELECT t.jobid, cron.unschedule(t.jobid) AS removed
  FROM unnest(%(jobids)s::bigint[]) AS t(jobid);

-- name: jobs_record_upsert
INSERT INTO pgcron.applied_job AS a (jobid, jobname, namespace, username, spec, created_at)
SELECT t.jobid, t.jobname, %(namespace)s::text, t.username, t.spec::jsonb,
       CASE WHEN t.created THEN clock_timestamp() END
  FROM unnest(%(jobids)s::bigint[], %(names)s::text[], %(usernames)s::text[], %(specs)s::text[],
              %(created)s::boolean[]) AS t(jobid, jobname, username, spec, created)
    ON CONFLICT (jobid) DO UPDATE
   SET jobname = excluded.jobname, namespace = excluded.namespace, username = excluded.username,
       spec = excluded.spec, created_at = coalesce(excluded.created_at, a.created_at),
       applied_at = clock_timestamp(), applied_by = current_user;

-- name: jobs_record_forget
-- Records of jobs that were pruned or no longer exist.
DELETE FROM pgcron.applied_job a
 WHERE a.namespace = %(namespace)s::text
   AND (a.jobid = ANY (%(jobids)s::bigint[]) OR NOT EXISTS (SELECT 1 FROM cron.job j WHERE j.jobid = a.jobid));

-- name: jobs_timeout_watch_state
-- Records of jobs unscheduled by hand do not count: only existing jobs with a timeout keep the watchdog.
SELECT EXISTS (SELECT 1 FROM pgcron.applied_job a JOIN cron.job j ON j.jobid = a.jobid
                WHERE a.spec ? 'timeout_seconds') AS wanted,
       (SELECT j.jobid FROM cron.job j
         WHERE j.jobname::text = 'pgcron:job-timeouts' AND j.username = current_user) AS jobid;

-- name: jobs_timeout_watch_install
SELECT cron.schedule('pgcron:job-timeouts'::text, %(schedule)s::text,
                     'SELECT pgcron.enforce_job_timeouts()'::text) AS jobid;
