-- pgcron engine migration 0001: the engine schema, its version table, and the run-status notification.
--
-- Runs in the database named by cron.database_name (the launcher writes cron.job_run_details there), inside
-- one transaction taken by pgcron.schema under an advisory lock. Re-running it is harmless: every statement is
-- IF NOT EXISTS / OR REPLACE, and the trigger is (re)created only where this role may.

CREATE SCHEMA IF NOT EXISTS pgcron;

CREATE TABLE IF NOT EXISTS pgcron.schema_version (
    version      integer PRIMARY KEY,
    name         text NOT NULL,
    installed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    installed_by text NOT NULL DEFAULT current_user
);
GRANT USAGE ON SCHEMA pgcron TO PUBLIC;
GRANT SELECT ON pgcron.schema_version TO PUBLIC;

-- NOTIFY 'pgcron_run' with {"runid", "jobid", "status"} whenever a run row appears or its status or end_time
-- changes (end_time too: background-worker mode rewrites it per statement of a multi-statement command).
-- It runs inside the pg_cron launcher's own writes, so it must never raise: an error here would stop pg_cron
-- from recording runs.
CREATE OR REPLACE FUNCTION pgcron.notify_run() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    BEGIN
        PERFORM pg_notify('pgcron_run',
                          json_build_object('runid', NEW.runid, 'jobid', NEW.jobid, 'status', NEW.status)::text);
    EXCEPTION WHEN OTHERS THEN
        NULL;  -- a lost notification only delays waiters until their next poll
    END;
    RETURN NULL;
END $$;

-- The trigger needs the TRIGGER privilege on cron.job_run_details (its owner or a superuser has it). Without
-- it the migration still succeeds: Client.capabilities() reports notify_trigger = False with the reason, and
-- waiters poll.
DO $$
DECLARE
    v_table oid := to_regclass('cron.job_run_details');
BEGIN
    IF v_table IS NULL THEN
        RAISE NOTICE 'pgcron: cron.job_run_details does not exist (pg_cron < 1.3); no run notifications';
    ELSIF NOT has_table_privilege(v_table, 'TRIGGER') THEN
        RAISE NOTICE 'pgcron: % may not create triggers on cron.job_run_details; run notifications are off '
                     '(re-run `pgcron schema install` as its owner to enable them)', current_user;
    ELSIF NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = v_table AND t.tgname = 'pgcron_run_notify') THEN
        -- Only when missing: CREATE TRIGGER locks the table, which would stall the launcher on every re-run.
        CREATE TRIGGER pgcron_run_notify
            AFTER INSERT OR UPDATE OF status, end_time ON cron.job_run_details
            FOR EACH ROW EXECUTE FUNCTION pgcron.notify_run();
    END IF;
END $$;
