-- Named queries of run-history maintenance (pgcron.history): batched purge and the index pg_cron lacks.
-- The purge walks cron.job_run_details in runid key ranges through the primary key: each batch is one short
-- transaction, and no batch rescans what an earlier one deleted (facts §8.3: no index on the time columns).
-- A superuser runs these: every function and (in the purge) every operator is schema-qualified, and
-- pgcron.history pins search_path = pg_catalog, pg_temp around them, so no object in a schema another role
-- can write (an exact-type public.array_agg(bigint) beats the polymorphic built-in) is ever called.

-- name: history_purge_bounds
-- low: the oldest runid; high: the newest run that started (or ended) before the cutoff. runids grow with
-- time, so nothing newer can qualify. The backward primary-key scan stops at the first old row.
SELECT (SELECT pg_catalog.min(d.runid) FROM cron.job_run_details d) AS low,
       (SELECT d.runid FROM cron.job_run_details d
         WHERE coalesce(d.start_time, d.end_time) OPERATOR(pg_catalog.<) %(cutoff)s::timestamptz
         ORDER BY d.runid DESC LIMIT 1) AS high;

-- name: history_prefix_jobids
SELECT coalesce(pg_catalog.array_agg(j.jobid ORDER BY j.jobid), '{}'::bigint[]) AS jobids
  FROM cron.job j
 WHERE pg_catalog.starts_with(j.jobname::text, %(prefix)s::text);

-- name: history_purge_batch
-- Finished runs older than the cutoff, and rows stuck in a non-terminal state (a restart leaves them in
-- 'connecting'/'sending' forever, facts §3.3) unless their backend is still alive.
-- Returns how many rows it deleted (one statement: it commits by itself).
WITH deleted AS (
DELETE FROM cron.job_run_details d
 WHERE d.runid OPERATOR(pg_catalog.>) %(low)s::bigint AND d.runid OPERATOR(pg_catalog.<=) %(high)s::bigint
   AND (%(jobids)s::bigint[] IS NULL OR d.jobid OPERATOR(pg_catalog.=) ANY (%(jobids)s::bigint[]))
   AND (coalesce(d.end_time, d.start_time) OPERATOR(pg_catalog.<) %(cutoff)s::timestamptz
        OR (d.start_time IS NULL AND d.end_time IS NULL))
   AND NOT (d.status OPERATOR(pg_catalog.<>) ALL (ARRAY['succeeded', 'failed']::text[])
            AND d.job_pid IS NOT NULL
            AND EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid OPERATOR(pg_catalog.=) d.job_pid))
RETURNING 1
)
SELECT pg_catalog.count(*) AS deleted FROM deleted;

-- name: history_purge_count
SELECT pg_catalog.count(*) AS rows
  FROM cron.job_run_details d
 WHERE d.runid OPERATOR(pg_catalog.<=) %(high)s::bigint
   AND (%(jobids)s::bigint[] IS NULL OR d.jobid OPERATOR(pg_catalog.=) ANY (%(jobids)s::bigint[]))
   AND (coalesce(d.end_time, d.start_time) OPERATOR(pg_catalog.<) %(cutoff)s::timestamptz
        OR (d.start_time IS NULL AND d.end_time IS NULL))
   AND NOT (d.status OPERATOR(pg_catalog.<>) ALL (ARRAY['succeeded', 'failed']::text[])
            AND d.job_pid IS NOT NULL
            AND EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid OPERATOR(pg_catalog.=) d.job_pid));

-- name: history_index_status
-- Which indexes cron.job_run_details has on (jobid, …), and whether this role may add one (table owner).
SELECT c.oid IS NOT NULL AS table_present,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint
            ELSE (SELECT pg_catalog.count(*) FROM cron.job_run_details) END AS rows_estimate,
       pg_catalog.pg_total_relation_size(c.oid) AS total_bytes,
       pg_catalog.pg_get_userbyid(c.relowner) AS owner,
       (pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')
        OR coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), false))
           AS can_create,
       coalesce((SELECT pg_catalog.array_agg(i.relname::text ORDER BY i.relname)
                   FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = x.indkey[0]
                  WHERE x.indrelid = c.oid AND a.attname = 'jobid' AND x.indisvalid), '{}'::text[]) AS jobid_indexes,
       coalesce((SELECT pg_catalog.array_agg(i.relname::text ORDER BY i.relname)
                   FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
                  WHERE x.indrelid = c.oid AND NOT x.indisvalid), '{}'::text[]) AS invalid_indexes
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'cron' AND c.relname = 'job_run_details';

-- name: history_index_create
-- CONCURRENTLY: a plain CREATE INDEX holds a SHARE lock for the whole build and the launcher, which writes
-- every run's row synchronously, would stall all scheduling meanwhile. Needs autocommit (no transaction).
CREATE INDEX CONCURRENTLY IF NOT EXISTS pgcron_job_run_details_jobid_runid_idx
    ON cron.job_run_details (jobid, runid);

-- name: history_index_drop_invalid
-- A CONCURRENTLY build that failed leaves an invalid index behind; drop it before retrying.
DROP INDEX CONCURRENTLY IF EXISTS cron.pgcron_job_run_details_jobid_runid_idx;
