-- Setup for examples/jobs.toml and examples/jobs.yaml: the tables and the materialized view the jobs work on.
-- Run it once in the database the jobs use (here: the database named by cron.database_name):
--   psql "$PGCRON_DSN" -f examples/setup.sql
-- Re-running it is harmless.

CREATE SCHEMA IF NOT EXISTS shop;

-- Seats held in a cart; a hold that is not paid within 15 minutes expires.
CREATE TABLE IF NOT EXISTS shop.reservations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seat        text NOT NULL,
    status      text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'paid', 'expired')),
    held_until  timestamptz NOT NULL DEFAULT now() + interval '15 minutes'
);
CREATE INDEX IF NOT EXISTS reservations_held_idx ON shop.reservations (held_until) WHERE status = 'held';

-- Expire stale holds; returns how many it expired (the run's message shows it).
CREATE OR REPLACE FUNCTION shop.expire_reservations() RETURNS integer
    LANGUAGE sql AS $$
    WITH expired AS (
        UPDATE shop.reservations SET status = 'expired'
         WHERE status = 'held' AND held_until < now()
        RETURNING 1)
    SELECT count(*)::integer FROM expired
$$;

-- An append-only event log with a 30-day retention.
CREATE TABLE IF NOT EXISTS shop.events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    happened_at timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL,
    amount      numeric(12, 2)
);
CREATE INDEX IF NOT EXISTS events_happened_idx ON shop.events (happened_at);

-- Daily sales, refreshed every 10 minutes; the unique index allows REFRESH … CONCURRENTLY.
CREATE MATERIALIZED VIEW IF NOT EXISTS shop.daily_sales AS
    SELECT date_trunc('day', happened_at) AS day, count(*) AS orders, coalesce(sum(amount), 0) AS revenue
      FROM shop.events
     WHERE kind = 'order'
     GROUP BY 1;
CREATE UNIQUE INDEX IF NOT EXISTS daily_sales_day_idx ON shop.daily_sales (day);
