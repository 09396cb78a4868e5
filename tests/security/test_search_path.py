"""search_path: where a schema on the search_path is writable (`public` on clusters created before
PostgreSQL 15), mallory shadows the polymorphic built-ins the engine calls with exact-type functions of her
own that make her superuser when a superuser runs them (issue 11, row 7)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pgcron
import pytest
from pgcron.client import Client
from pgcron.models import JobSpec
from psycopg import sql

from .conftest import MALLORY, Cluster, attempt, connect, is_superuser, query_all, superuser_job

pytestmark = pytest.mark.integration

# Each shadow does the harm and then what the built-in would, so the superuser's statement succeeds (a failing
# statement would roll the ALTER ROLE back and hide it). Run by anyone but a superuser, it changes nothing.
SHADOWS = [
    """CREATE FUNCTION public.pgcron_sec_escalate() RETURNS void LANGUAGE plpgsql AS $$
       BEGIN
           BEGIN EXECUTE 'ALTER ROLE mallory SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
       END $$""",
    """CREATE FUNCTION public.unnest(bigint[]) RETURNS SETOF bigint LANGUAGE plpgsql AS $$
       BEGIN PERFORM public.pgcron_sec_escalate(); RETURN QUERY SELECT pg_catalog.unnest($1); END $$""",
    """CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$
       BEGIN PERFORM public.pgcron_sec_escalate(); RETURN QUERY SELECT pg_catalog.unnest($1); END $$""",
    """CREATE FUNCTION public.pgcron_sec_agg(bigint[], bigint) RETURNS bigint[] LANGUAGE plpgsql AS $$
       BEGIN PERFORM public.pgcron_sec_escalate(); RETURN pg_catalog.array_append($1, $2); END $$""",
    "CREATE AGGREGATE public.array_agg(bigint) (SFUNC = public.pgcron_sec_agg, STYPE = bigint[])",
    """CREATE FUNCTION public.format(text, interval) RETURNS text LANGUAGE plpgsql AS $$
       BEGIN PERFORM public.pgcron_sec_escalate(); RETURN pg_catalog.format($1, $2::text); END $$""",
]


@pytest.fixture
def shadows(cluster: Cluster) -> Iterator[Callable[[], None]]:
    """Model an older cluster (PG 15+ revokes CREATE on public from PUBLIC): mallory may create in public.
    Returns the function that plants her shadows (call it after the victim's setup)."""
    query_all(cluster.dsn, sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(MALLORY)))

    def plant() -> None:
        errors = attempt(cluster.mallory, *[(stmt, ()) for stmt in SHADOWS])
        assert not errors, f"mallory could not plant her functions (the test needs them): {errors}"

    yield plant
    # reset() drops everything mallory owns and revokes CREATE again.


def test_purge_history_procedure(cluster: Cluster, namespace: str, shadows: Callable[[], None]) -> None:
    """Row 7: `CALL pgcron.purge_history(..., <prefix>)` (array_agg(bigint) over the prefix's jobs)."""
    superuser_job(cluster, f"{namespace}:kept")
    shadows()
    with connect(cluster.dsn) as conn:
        conn.execute("CALL pgcron.purge_history(interval '1 day', 10000, %s)", (f"{namespace}:",))
    assert not is_superuser(cluster.dsn, MALLORY)


def test_history_purge_namespace(cluster: Cluster, namespace: str, shadows: Callable[[], None]) -> None:
    """Row 7: `pgcron history purge --namespace` (its job-prefix query calls array_agg(bigint))."""
    superuser_job(cluster, f"{namespace}:kept")
    shadows()
    with connect(cluster.dsn) as conn:
        Client.connect(conn).purge_history(timedelta(days=1), job_prefix=f"{namespace}:")
    assert not is_superuser(cluster.dsn, MALLORY)


def test_apply_prune(cluster: Cluster, namespace: str, shadows: Callable[[], None]) -> None:
    """Row 7: `pgcron apply --prune` (unschedules through unnest(bigint[]))."""
    with pgcron.Client.connect(cluster.dsn) as client:
        client.apply(client.plan([JobSpec("old", "0 0 1 1 *", "SELECT 1")], namespace=namespace))
        shadows()
        client.apply(client.plan([], namespace=namespace, prune=True))
    assert not is_superuser(cluster.dsn, MALLORY)


def test_apply_create(cluster: Cluster, namespace: str, shadows: Callable[[], None]) -> None:
    """Row 7 (next attack): `pgcron apply` creating jobs (unnest over text[] arrays; the multi-argument
    `unnest(a, b, …)` in FROM resolves to pg_catalog.unnest, so this one held before 0004 too)."""
    shadows()
    with pgcron.Client.connect(cluster.dsn) as client:
        client.apply(client.plan([JobSpec("new", "0 0 1 1 *", "SELECT 1")], namespace=namespace))
    assert not is_superuser(cluster.dsn, MALLORY)


def test_timed_out_pushdown(cluster: Cluster, shadows: Callable[[], None]) -> None:
    """Row 7: a superuser's pushdown run that times out (its message was built with format(text, interval)
    in the job's session, on that session's search_path)."""
    shadows()
    with pgcron.Client.connect(cluster.dsn) as client:
        handle = client.submit("SELECT pg_sleep(20)", timeout=1)
        run = client.wait(handle, timeout=60)
    assert run.message is not None and "timeout" in run.message, (
        f"not timed out: {run.status} {run.message!r}"
    )
    assert not is_superuser(cluster.dsn, MALLORY)


def test_shadows_are_callable(cluster: Cluster, shadows: Callable[[], None]) -> None:
    """Control: the planted functions do win name resolution on the default search_path, so the tests above
    would see the harm (a superuser calling the built-ins unqualified becomes mallory's victim)."""
    shadows()
    with connect(cluster.dsn) as conn:
        try:
            conn.execute("SELECT array_agg(x) FROM (VALUES (1::bigint)) v(x)")
            assert is_superuser(cluster.dsn, MALLORY), "the shadow aggregate did not win"
        finally:
            conn.execute(sql.SQL("ALTER ROLE {} NOSUPERUSER").format(sql.Identifier(MALLORY)))
