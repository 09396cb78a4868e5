-- Named queries on cron.job. Every argument is cast explicitly (facts §10.3): 1.4.x has `name`-typed
-- job names and implicit text→name casts, so `%(x)s::text` resolves on every version.

-- name: list_jobs
SELECT j.jobid, j.jobname::text AS jobname, j.schedule, j.command, j.database, j.username, j.active,
       j.nodename, j.nodeport
  FROM cron.job j
 ORDER BY j.jobid;

-- name: get_job_by_id
SELECT j.jobid, j.jobname::text AS jobname, j.schedule, j.command, j.database, j.username, j.active,
       j.nodename, j.nodeport
  FROM cron.job j
 WHERE j.jobid = %(jobid)s::bigint;

-- name: get_jobs_by_name
-- The current user's job first: names are unique per user, and a superuser sees everyone's.
SELECT j.jobid, j.jobname::text AS jobname, j.schedule, j.command, j.database, j.username, j.active,
       j.nodename, j.nodeport
  FROM cron.job j
 WHERE j.jobname::text = %(name)s::text
 ORDER BY (j.username = current_user) DESC, j.jobid;

-- name: schedule_job
SELECT cron.schedule(%(name)s::text, %(schedule)s::text, %(command)s::text) AS jobid;

-- name: schedule_job_in_database
SELECT cron.schedule_in_database(
           job_name := %(name)s::text,
           schedule := %(schedule)s::text,
           command := %(command)s::text,
           database := %(database)s::text,
           username := %(username)s::text,
           active := %(active)s::boolean) AS jobid;

-- name: alter_job
SELECT cron.alter_job(
           job_id := %(jobid)s::bigint,
           schedule := %(schedule)s::text,
           command := %(command)s::text,
           database := %(database)s::text,
           username := %(username)s::text,
           active := %(active)s::boolean);

-- name: unschedule_job
-- By id: the only form that works on every version (facts §10.3).
SELECT cron.unschedule(%(jobid)s::bigint) AS removed;
