-- pgcron engine migration 0003: jobs as code (the record of what `pgcron apply` last applied) and history
-- retention (batched purge, job timeouts).
--
-- The apply record is what lets `pgcron plan` tell drift (the live job was changed outside the jobs file) from
-- a pending change (the file changed), and keeps the jobs-file fields pg_cron has no column for (timeout,
-- description, tags). Runs in the database named by cron.database_name. Re-running it is harmless.
--
-- No index on cron.job_run_details is created here: CREATE INDEX takes a SHARE lock that stalls the pg_cron
-- launcher for the whole build on a large history, and needs ownership of the table. `pgcron history index`
-- builds it CONCURRENTLY where privileges allow (docs/history.md).

CREATE SCHEMA IF NOT EXISTS pgcron;

CREATE TABLE IF NOT EXISTS pgcron.applied_job (
    jobid       bigint PRIMARY KEY,          -- cron.job.jobid; kept across updates (alter_job, never recreate)
    jobname     text NOT NULL,               -- '<namespace>:<name>'
    namespace   text NOT NULL,
    username    text NOT NULL,               -- the job's role, for the row policy below
    spec        jsonb NOT NULL,              -- schedule, command, database, username, active, timeout, …
    created_at  timestamptz,                 -- set when apply created the job (audit: no fire times before)
    applied_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    applied_by  text NOT NULL DEFAULT current_user
);
CREATE INDEX IF NOT EXISTS applied_job_namespace_idx ON pgcron.applied_job (namespace);

ALTER TABLE pgcron.applied_job ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS applied_job_own ON pgcron.applied_job;
CREATE POLICY applied_job_own ON pgcron.applied_job
    USING (current_user IN (username, applied_by))
    WITH CHECK (current_user IN (username, applied_by));
GRANT USAGE ON SCHEMA pgcron TO PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON pgcron.applied_job TO PUBLIC;

-- Delete run history older than p_keep in short batches, committing after each one so that no lock is held
-- for long (the launcher writes to this table synchronously; facts §8.10). Rows are visited in runid order
-- through the primary key, in key ranges of p_batch runids, so no batch rescans what an earlier one deleted.
-- Besides finished runs it removes rows stuck in a non-terminal state (restarts leave 'connecting'/'sending'
-- forever, facts §3.3) once they are older than p_keep, unless their backend is still alive.
-- p_jobname_prefix limits the purge to jobs whose name starts with it (a jobs file's namespace).
-- The role running it deletes only the rows it may see (row security on cron.job_run_details).
CREATE OR REPLACE PROCEDURE pgcron.purge_history(
    p_keep interval,
    p_batch integer DEFAULT 10000,
    p_jobname_prefix text DEFAULT NULL
)
    -- No SET clause: a procedure with one cannot COMMIT. pg_catalog is searched first anyway, and every
    -- other name below is schema-qualified.
    LANGUAGE plpgsql AS $$
DECLARE
    v_cutoff timestamptz := clock_timestamp() - p_keep;
    v_low bigint;
    v_high bigint;
    v_jobids bigint[];
    v_deleted bigint := 0;
    n bigint;
BEGIN
    IF p_keep IS NULL OR p_keep <= interval '0' THEN
        RAISE EXCEPTION 'pgcron.purge_history: p_keep must be a positive interval, got %', p_keep;
    END IF;
    IF p_jobname_prefix IS NOT NULL THEN
        SELECT coalesce(array_agg(j.jobid), '{}') INTO v_jobids
          FROM cron.job j WHERE pg_catalog.starts_with(j.jobname::text, p_jobname_prefix);
    END IF;
    SELECT min(d.runid) INTO v_low FROM cron.job_run_details d;
    -- runids grow with time: nothing after the newest run that started before the cutoff can qualify.
    SELECT max(d.runid) INTO v_high FROM cron.job_run_details d
     WHERE coalesce(d.start_time, d.end_time) < v_cutoff;
    IF v_low IS NULL OR v_high IS NULL THEN
        RETURN;
    END IF;
    v_low := v_low - 1;
    WHILE v_low < v_high LOOP
        DELETE FROM cron.job_run_details d
         WHERE d.runid > v_low AND d.runid <= least(v_low + p_batch, v_high)
           AND (v_jobids IS NULL OR d.jobid = ANY (v_jobids))
           AND (coalesce(d.end_time, d.start_time) < v_cutoff
                OR (d.start_time IS NULL AND d.end_time IS NULL))
           AND NOT (d.status NOT IN ('succeeded', 'failed') AND d.job_pid IS NOT NULL
                    AND EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid = d.job_pid));
        GET DIAGNOSTICS n = ROW_COUNT;
        v_deleted := v_deleted + n;
        v_low := least(v_low + p_batch, v_high);
        COMMIT;
    END LOOP;
    RAISE LOG 'pgcron.purge_history: deleted % run rows older than %', v_deleted, v_cutoff;
END $$;
GRANT EXECUTE ON PROCEDURE pgcron.purge_history(interval, integer, text) TO PUBLIC;

-- Cancel runs of applied jobs that exceed the jobs file's `timeout` (pg_cron has none, facts §1.1). Called by
-- the job 'pgcron:job-timeouts', which `pgcron apply` installs while any applied job declares a timeout.
-- Returns the number of backends signalled.
CREATE OR REPLACE FUNCTION pgcron.enforce_job_timeouts() RETURNS integer
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    n integer := 0;
    r record;
BEGIN
    FOR r IN
        SELECT d.job_pid
          FROM pgcron.applied_job a
          JOIN cron.job_run_details d ON d.jobid = a.jobid
         WHERE a.spec ? 'timeout_seconds' AND jsonb_typeof(a.spec -> 'timeout_seconds') = 'number'
           AND d.status IN ('starting', 'connecting', 'sending', 'running')
           AND d.job_pid IS NOT NULL
           AND d.start_time + make_interval(secs => (a.spec ->> 'timeout_seconds')::double precision)
               < clock_timestamp()
    LOOP
        IF pg_catalog.pg_cancel_backend(r.job_pid) THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END $$;
