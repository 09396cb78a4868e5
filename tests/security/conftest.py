"""Hostile-role fixtures: a private pg_cron server (both execution modes) with the engine installed by its
superuser, and two ordinary roles set up exactly as the docs ask (LOGIN, CONNECT on the database,
``USAGE ON SCHEMA cron``, nothing else): ``alice`` (the victim) and ``mallory`` (the attacker).

Every test attacks as mallory and then asserts that the harm did not happen. After each test the server is
put back (mallory's objects, rows, jobs and sessions removed, neither role superuser, the engine job present),
so one successful attack on an unfixed engine cannot spill into the next test.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from pgcron.schema import install
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.helpers import poll, query_all, query_one, scalar, wait_until  # noqa: F401 (the tests import them from here)

logger = logging.getLogger(__name__)

ALICE = "alice"
MALLORY = "mallory"
PASSWORDS = {ALICE: "alice-pw", MALLORY: "mallory-pw"}
#: A table alice's SQL writes into (only alice may): counts how often her SQL really ran, and as whom.
LEDGER = "security_ledger"
MAINTENANCE_JOB = "pgcron:maintenance"
TERMINAL = ("succeeded", "failed")
#: Bound for the engine to remove a finished submission's temporary job (maintenance every 5 s).
JOB_REMOVAL_BOUND_S = 25.0


@dataclass
class Cluster:
    """One server: the superuser's DSN and the DSNs of the two ordinary roles."""

    dsn: str
    superuser: str
    database: str
    maintenance: tuple[str, str] | None  # the engine job's (schedule, command) as installed
    alice: str = field(init=False)
    mallory: str = field(init=False)

    def __post_init__(self) -> None:
        self.alice = role_dsn(self.dsn, ALICE)
        self.mallory = role_dsn(self.dsn, MALLORY)


def role_dsn(dsn: str, role: str) -> str:
    return make_conninfo(dsn, user=role, password=PASSWORDS[role])


def connect(dsn: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=10)


def attempt(dsn: str, *statements: tuple[sql.Composable | str, tuple[Any, ...]]) -> list[str]:
    """Run each of an attacker's statements on its own (autocommit); return the errors (refusals are fine,
    the tests assert the state afterwards)."""
    errors: list[str] = []
    with connect(dsn) as conn:
        for query, params in statements:
            try:
                conn.execute(query if isinstance(query, sql.Composable) else sql.SQL(query), params)  # type: ignore[arg-type]
            except psycopg.Error as exc:
                errors.append(f"{type(exc).__name__}: {str(exc).strip()}")
    for error in errors:
        logger.info("attack refused: %s", error)
    return errors


def maintenance_jobid(dsn: str) -> int | None:
    return scalar(
        dsn,
        "SELECT jobid FROM cron.job WHERE jobname = %s AND username = current_user ORDER BY jobid LIMIT 1",
        (MAINTENANCE_JOB,),
    )


def maintenance_passes(dsn: str, passes: int = 2, timeout: float = 40.0) -> bool:
    """Wait until the engine job ``pgcron:maintenance`` has completed ``passes`` runs that started after now
    (its runs are observed in cron.job_run_details). False when the job is gone or the passes do not complete
    within ``timeout`` (a stalled or removed engine: the caller's assertions say what that means)."""
    jobid = maintenance_jobid(dsn)
    if jobid is None:
        logger.warning("the engine job %s does not exist", MAINTENANCE_JOB)
        return False
    floor = int(scalar(dsn, "SELECT last_value FROM cron.runid_seq"))
    seen: dict[int, str] = {}
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        for runid, status in query_all(
            dsn,
            "SELECT runid, status FROM cron.job_run_details WHERE jobid = %s AND runid > %s",
            (jobid, floor),
        ):
            seen[runid] = status
        # A run that started after a later one exists is over, even if its row was purged meanwhile.
        done = [r for r, s in seen.items() if s in TERMINAL or r < max(seen)]
        if len(done) >= passes:
            return True
        if maintenance_jobid(dsn) is None:
            logger.warning("the engine job %s was removed while waiting", MAINTENANCE_JOB)
            return False
        time.sleep(0.2)
    logger.warning("maintenance did not complete %d passes in %s s (seen: %s)", passes, timeout, seen)
    return False


def is_superuser(dsn: str, role: str) -> bool:
    return bool(scalar(dsn, "SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)))


def job_exists(dsn: str, jobid: int | None) -> bool:
    return scalar(dsn, "SELECT count(*) FROM cron.job WHERE jobid = %s", (jobid,)) == 1


def ledger_insert(token: str) -> str:
    """A command (alice's) that records one execution of itself in the ledger."""
    return (
        sql.SQL("INSERT INTO public.{} (token) VALUES ({})")
        .format(sql.Identifier(LEDGER), sql.Literal(token))
        .as_string(None)
    )


def ledger(dsn: str, token: str) -> list[str]:
    """The roles that executed the command carrying ``token``, one entry per execution."""
    rows = query_all(
        dsn,
        sql.SQL("SELECT by_role FROM public.{} WHERE token = %s ORDER BY at").format(sql.Identifier(LEDGER)),
        (token,),
    )
    return [r[0] for r in rows]


def has_engine_function(dsn: str, signature: str) -> bool:
    return scalar(dsn, "SELECT to_regprocedure(%s) IS NOT NULL", (signature,)) is True


class Victim:
    """A session of ``dsn`` busy in ``SELECT pg_sleep(seconds)`` in a thread: was it canceled?"""

    def __init__(self, dsn: str, seconds: float = 120) -> None:
        self.conn = connect(dsn)
        self.pid = int(self.conn.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(seconds,), daemon=True)
        self._thread.start()

    def _run(self, seconds: float) -> None:
        try:
            self.conn.execute("SELECT pg_sleep(%s)", (seconds,))
        except BaseException as exc:  # noqa: BLE001 - reported through .error
            self.error = exc
        finally:
            self.finished.set()

    def sleeping(self, dsn: str) -> bool:
        row = query_one(dsn, "SELECT state, wait_event FROM pg_stat_activity WHERE pid = %s", (self.pid,))
        return row is not None and row[0] == "active" and row[1] == "PgSleep"

    @property
    def canceled(self) -> bool:
        return isinstance(self.error, psycopg.errors.QueryCanceled)

    def stop(self, dsn: str) -> None:
        with contextlib.suppress(psycopg.Error):
            query_all(dsn, "SELECT pg_terminate_backend(%s)", (self.pid,))
        self._thread.join(10)
        with contextlib.suppress(psycopg.Error):
            self.conn.close()


# -- setup ------------------------------------------------------------------------------------------------


def _ensure_roles(conn: psycopg.Connection[Any], database: str) -> None:
    """The ordinary role of the docs: LOGIN, CONNECT on the database, USAGE on schema cron. Idempotent."""
    for role in (ALICE, MALLORY):
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD {}").format(
                verb, sql.Identifier(role), sql.Literal(PASSWORDS[role])
            )
        )
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(database), sql.Identifier(role)
            )
        )
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA cron TO {}").format(sql.Identifier(role)))
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS public.{} (token text NOT NULL,"
            " by_role text NOT NULL DEFAULT current_user,"
            " at timestamptz NOT NULL DEFAULT clock_timestamp())"
        ).format(sql.Identifier(LEDGER))
    )
    conn.execute(sql.SQL("REVOKE ALL ON public.{} FROM PUBLIC").format(sql.Identifier(LEDGER)))
    conn.execute(
        sql.SQL("GRANT SELECT, INSERT ON public.{} TO {}").format(
            sql.Identifier(LEDGER), sql.Identifier(ALICE)
        )
    )


_clusters: dict[str, Cluster] = {}


@pytest.fixture(scope="session")
def security_cluster(pgcron_both_modes_dsn: str) -> Cluster:
    """The engine installed by the superuser, and the roles alice and mallory (once per server)."""
    dsn = pgcron_both_modes_dsn
    if dsn not in _clusters:
        install(dsn)
        with connect(dsn) as conn:
            superuser, database = conn.execute("SELECT current_user::text, current_database()").fetchone()  # type: ignore[misc]
            _ensure_roles(conn, database)
            job = conn.execute(
                "SELECT schedule, command FROM cron.job WHERE jobname = %s AND username = current_user",
                (MAINTENANCE_JOB,),
            ).fetchone()
        _clusters[dsn] = Cluster(dsn, superuser, database, (job[0], job[1]) if job else None)
    return _clusters[dsn]


@pytest.fixture
def cluster(security_cluster: Cluster) -> Iterator[Cluster]:
    """The server, put back after the test (whatever mallory managed to do)."""
    yield security_cluster
    reset(security_cluster)


def _quietly(
    conn: psycopg.Connection[Any], query: sql.Composable | str, params: tuple[Any, ...] = ()
) -> None:
    try:
        conn.execute(query if isinstance(query, sql.Composable) else sql.SQL(query), params)  # type: ignore[arg-type]
    except psycopg.Error as exc:
        logger.warning("reset: %s: %s", query, exc)


def reset(c: Cluster) -> None:
    roles = [ALICE, MALLORY]
    with connect(c.dsn) as conn:
        _quietly(
            conn,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE usename = ANY(%s) AND pid <> pg_backend_pid()",
            (roles,),
        )
        _quietly(conn, "SELECT cron.unschedule(jobid) FROM cron.job WHERE username = ANY(%s)", (roles,))
        for role in roles:
            _quietly(conn, sql.SQL("ALTER ROLE {} NOSUPERUSER").format(sql.Identifier(role)))
        _quietly(
            conn,
            "DELETE FROM pgcron.submission WHERE submitted_by = ANY(%s) OR username = ANY(%s)",
            (roles, roles),
        )
        _quietly(
            conn,
            "DELETE FROM pgcron.applied_job WHERE username = ANY(%s) OR applied_by = ANY(%s)",
            (roles, roles),
        )
        for table in ("lane_config", "lane_worker"):  # lanes (0006), where they exist
            if scalar(c.dsn, "SELECT to_regclass(%s) IS NOT NULL", (f"pgcron.{table}",)):
                _quietly(
                    conn,
                    sql.SQL("DELETE FROM {} WHERE role = ANY(%s)").format(sql.Identifier("pgcron", table)),
                    (roles,),
                )
        # Objects mallory created (functions in public, her tables) and every privilege granted to her.
        _quietly(conn, sql.SQL("DROP OWNED BY {}").format(sql.Identifier(MALLORY)))
        _quietly(conn, sql.SQL("REVOKE CREATE ON SCHEMA public FROM {}").format(sql.Identifier(MALLORY)))
        _ensure_roles(conn, c.database)
        if maintenance_jobid(c.dsn) is None and c.maintenance is not None:
            logger.warning("reset: the engine job %s was gone; scheduling it again", MAINTENANCE_JOB)
            _quietly(conn, "SELECT cron.schedule(%s, %s, %s)", (MAINTENANCE_JOB, *c.maintenance))


@pytest.fixture
def token() -> str:
    """A unique marker carried by one test's command."""
    return f"tok{secrets.token_hex(6)}"


@pytest.fixture
def namespace(security_cluster: Cluster) -> Iterator[str]:
    """A unique jobs-file namespace; every role's jobs in it are unscheduled after the test."""
    ns = f"sec{secrets.token_hex(4)}"
    yield ns
    with connect(security_cluster.dsn) as conn:
        _quietly(
            conn,
            "SELECT cron.unschedule(jobid) FROM cron.job WHERE starts_with(jobname, %s)",
            (ns + ":",),
        )
        _quietly(conn, "DELETE FROM pgcron.applied_job WHERE namespace = %s", (ns,))


def superuser_job(c: Cluster, name: str, schedule: str = "0 0 1 1 *", command: str = "SELECT 1") -> int:
    """A job of the superuser's (a victim the attacker must not touch)."""
    return int(scalar(c.dsn, "SELECT cron.schedule(%s, %s, %s)", (name, schedule, command)))
