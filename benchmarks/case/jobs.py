"""The three canonical data-local jobs: their generated data, their SQL, and a digest of their outcome.

Each job is defined once here and run three ways by the runner:

* the *in-database* SQL (``Job.sql``) is what pgcron's pushdown and both Airflow operators execute;
* the *app-tier* logic for the same job lives in :mod:`case.apptier` and must reach the same end state;
* ``Job.digest_sql`` summarises the end state so the runner can prove every method did the same work.

The data is generated inside PostgreSQL with ``generate_series`` and a seeded ``random()``, so a reset costs
one round trip and the same size always gives the same rows. Time columns are generated with a gap around
each job's cut-off (no row is within minutes of it), so the outcome does not depend on how many seconds pass
between the reset and the run.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import Connection

SCHEMA_SQL = "CREATE SCHEMA IF NOT EXISTS bench"

# --- expire stale reservations -------------------------------------------------------------------------
# 10 % of reservations are pending; 80 % of those are older than the 15-minute hold (ages 20–120 min), the
# rest are fresh (0–10 min). So about 8 % of the table flips to 'expired' in one run.
RESERVATIONS_SETUP = (
    "DROP TABLE IF EXISTS bench.reservations",
    """CREATE TABLE bench.reservations (
        id bigint PRIMARY KEY,
        user_id bigint NOT NULL,
        resource_id integer NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled', 'expired')),
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        note text
    )""",
    "SELECT setseed(0.42)",
    """INSERT INTO bench.reservations
       SELECT g, (r1 * 200000)::bigint, (r2 * 5000)::integer,
              CASE WHEN r3 < 0.10 THEN 'pending' WHEN r3 < 0.85 THEN 'confirmed' ELSE 'cancelled' END,
              CASE WHEN r3 < 0.10 AND r4 < 0.8
                   THEN now() - interval '20 minutes' - r5 * interval '100 minutes'
                   WHEN r3 < 0.10 THEN now() - r5 * interval '10 minutes'
                   ELSE now() - interval '2 hours' - r5 * interval '30 days' END,
              now(),
              'party of ' || (1 + (r2 * 7)::integer) || ', table near the window'
       FROM (SELECT g, random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5
             FROM generate_series(1, %(n)s) AS g) AS s""",
    "CREATE INDEX reservations_pending_created ON bench.reservations (created_at) WHERE status = 'pending'",
    "CREATE INDEX reservations_user ON bench.reservations (user_id)",
)
RESERVATIONS_SQL = (
    "UPDATE bench.reservations SET status = 'expired', updated_at = now() "
    "WHERE status = 'pending' AND created_at < now() - interval '15 minutes'"
)
RESERVATIONS_DIGEST = (
    "SELECT count(*) FILTER (WHERE status = 'expired'), count(*) FILTER (WHERE status = 'pending'), count(*) "
    "FROM bench.reservations"
)

# --- retention purge ------------------------------------------------------------------------------------
# Events over the last 60 days in whole days plus 12 hours, so no row is near a day-granular cut-off.
# A per-kind retention policy (page views 30 days, clicks and logins 45, purchases a year) deletes ~39 %.
EVENTS_SETUP = (
    "DROP TABLE IF EXISTS bench.events",
    "DROP TABLE IF EXISTS bench.retention_policy",
    "CREATE TABLE bench.retention_policy (kind text PRIMARY KEY, keep interval NOT NULL)",
    """INSERT INTO bench.retention_policy VALUES
       ('page_view', '30 days'), ('click', '45 days'), ('login', '45 days'), ('purchase', '365 days')""",
    """CREATE TABLE bench.events (
        id bigint PRIMARY KEY,
        kind text NOT NULL,
        user_id bigint NOT NULL,
        occurred_at timestamptz NOT NULL,
        payload jsonb NOT NULL
    )""",
    "SELECT setseed(0.43)",
    """INSERT INTO bench.events
       SELECT g,
              CASE WHEN r1 < 0.60 THEN 'page_view' WHEN r1 < 0.85 THEN 'click'
                   WHEN r1 < 0.95 THEN 'login' ELSE 'purchase' END,
              (r2 * 200000)::bigint,
              now() - interval '12 hours' - floor(r3 * 60) * interval '1 day',
              jsonb_build_object('path', '/p/' || (r2 * 1000)::integer,
                                 'ua', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0',
                                 'ms', (r3 * 900)::integer)
       FROM (SELECT g, random() AS r1, random() AS r2, random() AS r3
             FROM generate_series(1, %(n)s) AS g) AS s""",
    "CREATE INDEX events_occurred_at ON bench.events (occurred_at)",
    "CREATE INDEX events_user ON bench.events (user_id)",
)
EVENTS_SQL = (
    "DELETE FROM bench.events AS e USING bench.retention_policy AS p "
    "WHERE e.kind = p.kind AND e.occurred_at < now() - p.keep"
)
EVENTS_DIGEST = "SELECT count(*), coalesce(sum(id), 0) FROM bench.events"

# --- materialized-view refresh --------------------------------------------------------------------------
# Orders over 90 days for 500 products; the view (daily revenue per product) is built, then 2 % more orders
# arrive, so the refresh has real changes to apply. CONCURRENTLY, as production does, so readers never block.
ORDERS_SETUP = (
    "DROP MATERIALIZED VIEW IF EXISTS bench.daily_sales",
    "DROP TABLE IF EXISTS bench.daily_sales_app",
    "DROP TABLE IF EXISTS bench.orders",
    """CREATE TABLE bench.orders (
        id bigint PRIMARY KEY,
        customer_id bigint NOT NULL,
        product_id integer NOT NULL,
        quantity integer NOT NULL,
        amount_cents bigint NOT NULL,
        status text NOT NULL,
        created_at timestamptz NOT NULL
    )""",
    "SELECT setseed(0.44)",
    """INSERT INTO bench.orders
       SELECT g, (r1 * 100000)::bigint, 1 + (r2 * 499)::integer, 1 + (r3 * 4)::integer,
              100 + (r3 * 20000)::bigint, CASE WHEN r4 < 0.9 THEN 'paid' ELSE 'refunded' END,
              timestamptz '2026-08-01 00:00+00' + r5 * interval '90 days'
       FROM (SELECT g, random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5
             FROM generate_series(1, (%(n)s * 0.98)::bigint) AS g) AS s""",
    """CREATE MATERIALIZED VIEW bench.daily_sales AS
       SELECT (created_at AT TIME ZONE 'UTC')::date AS day, product_id,
              count(*) AS orders, sum(quantity) AS units, sum(amount_cents) AS revenue_cents
       FROM bench.orders WHERE status = 'paid' GROUP BY 1, 2""",
    "CREATE UNIQUE INDEX daily_sales_key ON bench.daily_sales (day, product_id)",
    """CREATE TABLE bench.daily_sales_app (
        day date NOT NULL, product_id integer NOT NULL, orders bigint NOT NULL, units bigint NOT NULL,
        revenue_cents numeric NOT NULL, PRIMARY KEY (day, product_id))""",
    "INSERT INTO bench.daily_sales_app SELECT * FROM bench.daily_sales",
    """INSERT INTO bench.orders
       SELECT g, (r1 * 100000)::bigint, 1 + (r2 * 499)::integer, 1 + (r3 * 4)::integer,
              100 + (r3 * 20000)::bigint, CASE WHEN r4 < 0.9 THEN 'paid' ELSE 'refunded' END,
              timestamptz '2026-10-29 00:00+00' + r5 * interval '1 day'
       FROM (SELECT g, random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5
             FROM generate_series((%(n)s * 0.98)::bigint + 1, %(n)s) AS g) AS s""",
)
ORDERS_SQL = "REFRESH MATERIALIZED VIEW CONCURRENTLY bench.daily_sales"
# The app tier writes its rollup to a plain table; both digests must equal the rollup computed from scratch.
ORDERS_DIGEST = (
    "SELECT count(*), coalesce(sum(orders), 0), coalesce(sum(units), 0), coalesce(sum(revenue_cents), 0) "
    "FROM bench.daily_sales"
)
ORDERS_APP_DIGEST = (
    "SELECT count(*), coalesce(sum(orders), 0), coalesce(sum(units), 0), coalesce(sum(revenue_cents), 0) "
    "FROM bench.daily_sales_app"
)
ORDERS_TRUTH = (
    "SELECT count(*), coalesce(sum(orders), 0), coalesce(sum(units), 0), coalesce(sum(revenue_cents), 0) "
    "FROM (SELECT count(*) AS orders, sum(quantity) AS units, sum(amount_cents) AS revenue_cents "
    "      FROM bench.orders WHERE status = 'paid' "
    "      GROUP BY (created_at AT TIME ZONE 'UTC')::date, product_id) AS t"
)


@dataclass(frozen=True)
class Job:
    """One canonical job: how to build its data, the SQL that does it in the database, and its digest."""

    name: str
    title: str
    setup: tuple[str, ...]
    sql: str
    digest_sql: str
    app_digest_sql: str
    truth_sql: str | None = None


JOBS: tuple[Job, ...] = (
    Job(
        name="expire_reservations",
        title="Expire stale reservations",
        setup=RESERVATIONS_SETUP,
        sql=RESERVATIONS_SQL,
        digest_sql=RESERVATIONS_DIGEST,
        app_digest_sql=RESERVATIONS_DIGEST,
    ),
    Job(
        name="retention_purge",
        title="Retention purge",
        setup=EVENTS_SETUP,
        sql=EVENTS_SQL,
        digest_sql=EVENTS_DIGEST,
        app_digest_sql=EVENTS_DIGEST,
    ),
    Job(
        name="refresh_rollup",
        title="Materialized-view refresh",
        setup=ORDERS_SETUP,
        sql=ORDERS_SQL,
        digest_sql=ORDERS_DIGEST,
        app_digest_sql=ORDERS_APP_DIGEST,
        truth_sql=ORDERS_TRUTH,
    ),
)
JOBS_BY_NAME = {job.name: job for job in JOBS}


def reset(conn: Connection[tuple[object, ...]], job: Job, rows: int) -> None:
    """Rebuild ``job``'s tables with ``rows`` generated rows, then VACUUM ANALYZE them and CHECKPOINT.

    Every method starts from the same freshly built, analyzed, checkpointed state, so no method pays for
    another's dead tuples or dirty buffers. ``conn`` must be in autocommit mode (VACUUM needs it).
    """
    conn.execute(SCHEMA_SQL)
    with conn.transaction():
        for statement in job.setup:
            conn.execute(statement, {"n": rows} if "%(n)s" in statement else None)
    for table in _tables(job):
        conn.execute(table)
    conn.execute("CHECKPOINT")


def _tables(job: Job) -> tuple[str, ...]:
    # VACUUM statements per job, spelled out: identifiers never come from string formatting.
    if job.name == "expire_reservations":
        return ("VACUUM (ANALYZE) bench.reservations",)
    if job.name == "retention_purge":
        return ("VACUUM (ANALYZE) bench.events", "VACUUM (ANALYZE) bench.retention_policy")
    return (
        "VACUUM (ANALYZE) bench.orders",
        "VACUUM (ANALYZE) bench.daily_sales",
        "VACUUM (ANALYZE) bench.daily_sales_app",
    )


def digest(conn: Connection[tuple[object, ...]], sql: str) -> list[int]:
    """Run a digest query and return its single row as ints (JSON-friendly, comparable across methods)."""
    row = conn.execute(sql).fetchone()
    assert row is not None
    return [int(v) for v in row]  # type: ignore[call-overload]
