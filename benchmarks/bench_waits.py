"""Benchmark: 1,000 waits in one process (issue 12 item 8), side by side, in both execution modes.

    python benchmarks/bench_waits.py [--dsn DSN] [--libpq-dsn DSN] [--waits 1000] [--before-waits 200]

Without ``--dsn`` / ``--libpq-dsn`` (or ``PGCRON_DSN`` / ``PGCRON_LIBPQ_DSN``) it brings up its own dev
servers (``pgcron.dev.up("bench-waits-bgw")`` and ``("bench-waits-libpq", background_workers=False)``,
PostgreSQL's default ``max_connections = 100``) and installs the engine schema. Scenarios, per execution mode:

* **triggers, shared (now)** — ``--waits`` ``PgCronRunTrigger`` waits in ONE event loop, as the Airflow
  triggerer runs them: the provider's real trigger class, each driven by ``async for event in trigger.run()``
  in its own asyncio task, the Airflow connection given by an ``AIRFLOW_CONN_<ID>`` environment variable. The
  pushdowns are submitted first (``pgcron.AsyncClient.submit``, a client on its own application_name that is
  closed before the triggers start), and their runs queue behind an advisory lock the benchmark holds, so
  every wait really is in flight at once for ``--window`` seconds; then the lock is released and the runs
  complete at pg_cron's pace.
* **triggers, shared (now), poll_interval 600 s** — the same with a trigger ``poll_interval`` longer than the
  run (the operator's default of 10 s makes every wait time out, log and wait again in the same instant).
* **triggers, per-trigger clients (before)** — the same with ``--before-waits`` triggers (200 by default: the
  point is made long before 1,000), emulating main before the shared registry: every trigger gets its own
  Airflow connection (``application_name=bench-before-<i>``, so its own shared target: a statement connection
  and a LISTEN connection) plus one extra plain connection for what used to be the client's own connection —
  three per trigger, as before. It exhausts ``max_connections``; failures are counted, never raised.
* **SQLExecuteQueryOperator shape** — ``--waits`` concurrent plain psycopg connections, each running the
  statement itself (what N concurrent ``SQLExecuteQueryOperator`` tasks do: each task holds a worker slot and
  a connection for the statement's whole duration).
* **sync Client, 50 threads** — ``--threads`` threads in one process, each with its own ``pgcron.Client`` on
  the same DSN, each submitting and waiting for ``waits / threads`` runs in turn (one in flight per thread).
  No advisory lock here: each run is just the short statement.

Measured: PostgreSQL connections held by this process (a separate probe process samples pg_stat_activity every
``--sample-ms`` and counts the client backends whose client_port is one of this process's TCP sockets, so
pg_cron's job backends and the probe itself are never counted), and all client backends on the server;
notice latency = the moment the trigger yielded its event (or ``Client.wait`` returned) minus the run's end
(``end_time`` of the claimed run in ``cron.job_run_details``, else ``pgcron.submission.finished_at``); waits
that ended in an error event; this process's CPU time; for the sync client, threads the library started
(``threading.active_count()`` minus the workers and the main thread). Prints a table and writes
``benchmarks/results/bench_waits.json``. Measured side by side in one run; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import report

# Fixed statements (no SQL built from strings). The runs queue behind LOCK_KEY while the benchmark holds it.
LOCK_KEY = 4_242_431
LOCK_SQL = "SELECT pg_advisory_lock(%s)"
UNLOCK_SQL = "SELECT pg_advisory_unlock(%s)"
BLOCKED_SQL = "SELECT pg_advisory_xact_lock_shared(4242431), pg_sleep(0.1)"  # 4242431 = LOCK_KEY
PLAIN_SQL = "SELECT pg_sleep(0.1)"
RUN_ENDS_SQL = (
    "SELECT DISTINCT ON (s.key) s.key, d.end_time, s.finished_at FROM pgcron.submission s "
    "LEFT JOIN cron.job_run_details d ON d.jobid = s.jobid AND (s.top_level OR d.job_pid = s.claimed_pid) "
    "WHERE s.key = ANY(%s) ORDER BY s.key, d.runid DESC NULLS LAST"
)
PROBE_SQL = (
    "SELECT client_port, backend_type, coalesce(application_name, '') FROM pg_catalog.pg_stat_activity "
    "WHERE pid <> pg_backend_pid()"
)
CONN_ID = "pgcron_bench_waits"
# application_names of the benchmark's own helper connections, never counted as the waits' connections
HELPERS = frozenset({"bench-waits-lock", "bench-waits-submit", "bench-waits-read", "bench-waits-probe"})
WAIT_TIMEOUT_S = 900.0  # a wait unfinished after this is reported as hung (a bug), never awaited forever


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def now() -> datetime:
    return datetime.now(UTC)


def with_params(dsn: str, **params: str) -> str:
    return make_conninfo(dsn, **params)


def as_uri(dsn: str, application_name: str | None = None, **params: str) -> str:
    """An ``AIRFLOW_CONN_*`` URI for a libpq DSN (host, port, user, password, dbname; application_name and
    other libpq ``params``, such as ``options``, become the connection's extras)."""
    from urllib.parse import quote, urlencode

    p = conninfo_to_dict(dsn)
    auth = quote(str(p.get("user", "postgres")), safe="")
    if p.get("password"):
        auth += ":" + quote(str(p["password"]), safe="")
    host, port, db = p.get("host", "127.0.0.1"), p.get("port", 5432), p.get("dbname", "postgres")
    uri = f"postgresql://{auth}@{host}:{port}/{db}"
    if application_name:
        params = {"application_name": application_name, **params}
    return uri + (f"?{urlencode(params, quote_via=quote)}" if params else "")


# ---------------------------------------------------------------- the probe (a separate process)


def probe_main(dsn: str, pid: int, out: str, interval: float) -> None:
    """Every ``interval`` s: client backends whose client_port is a TCP socket of process ``pid``."""
    import psutil

    proc = psutil.Process(pid)
    port = int(conninfo_to_dict(dsn).get("port", 5432))
    probe_dsn = with_params(dsn, application_name="bench-waits-probe")
    conn = psycopg.connect(probe_dsn, autocommit=True)
    with open(out, "a", encoding="utf-8") as fh:
        while True:
            started = time.monotonic()
            try:
                ports = {
                    c.laddr.port for c in proc.net_connections(kind="tcp") if c.raddr and c.raddr.port == port
                }
                rows = conn.execute(PROBE_SQL).fetchall()
            except psutil.NoSuchProcess:
                return
            except psycopg.Error:
                conn = psycopg.connect(probe_dsn, autocommit=True)
                continue
            clients = [r for r in rows if r[1] == "client backend"]
            sample = {
                "t": time.time(),
                # the benchmark's own helpers (lock holder, submitter, result reader) are not the waits' cost
                "mine": sum(1 for r in clients if r[0] in ports and r[2] not in HELPERS),
                "clients": len(clients),
                "pg_cron_jobs": sum(1 for r in rows if r[1] == "pg_cron" or r[2] == "pg_cron"),
            }
            fh.write(json.dumps(sample) + "\n")
            fh.flush()
            time.sleep(max(0.0, interval - (time.monotonic() - started)))


class Probe:
    """The probe process; ``window(t0, t1)`` gives the peaks between two ``time.time()`` moments."""

    def __init__(self, dsn: str, interval: float) -> None:
        fd, self._path = tempfile.mkstemp(prefix="bench-waits-probe-", suffix=".jsonl")
        os.close(fd)
        self._proc = subprocess.Popen(
            [sys.executable, __file__, "--probe", dsn, str(os.getpid()), self._path, str(interval)]
        )
        time.sleep(1.0)  # its connection is up before anything can exhaust max_connections

    def samples(self) -> list[dict[str, Any]]:
        text = Path(self._path).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def window(self, t0: float, t1: float) -> dict[str, Any]:
        picked = [s for s in self.samples() if t0 <= s["t"] <= t1]
        if not picked:
            return {"samples": 0}
        return {
            "samples": len(picked),
            "peak_mine": max(s["mine"] for s in picked),
            "peak_clients": max(s["clients"] for s in picked),
            "peak_pg_cron_jobs": max(s["pg_cron_jobs"] for s in picked),
        }

    def close(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=10)
        Path(self._path).unlink(missing_ok=True)


class CountingHandler(logging.Handler):
    """Counts the library's warnings and errors (by logger) instead of printing hundreds of them."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[f"{record.name}:{record.levelname}"] += 1


# ---------------------------------------------------------------- shared helpers


async def submit_all(dsn: str, keys: list[str], sql: str) -> None:
    """One pushdown per key through pgcron.AsyncClient (on its own application_name; closed afterwards)."""
    import pgcron

    async with await pgcron.AsyncClient.connect(with_params(dsn, application_name="bench-waits-submit")) as c:
        for key in keys:
            await c.submit(sql, key=key)


async def run_ends(dsn: str, keys: list[str]) -> dict[str, datetime | None]:
    reader = with_params(dsn, application_name="bench-waits-read")
    async with await psycopg.AsyncConnection.connect(reader, autocommit=True) as conn:
        cur = await conn.execute(RUN_ENDS_SQL, (keys,))
        return {row[0]: row[1] or row[2] for row in await cur.fetchall()}


def latencies(ends: dict[str, datetime | None], noticed: dict[str, datetime]) -> list[float]:
    out = []
    for key, when in noticed.items():
        end = ends.get(key)
        if end is not None:
            out.append((when - end).total_seconds() * 1000)
    return out


def worst(ends: dict[str, datetime | None], noticed: dict[str, datetime], t0: float) -> list[list[Any]]:
    """The three slowest notices: key, the run's end in seconds after the phase started, latency ms."""
    rows = [
        [key, round(end.timestamp() - t0, 3), round((when - end).total_seconds() * 1000, 1)]
        for key, when in noticed.items()
        if (end := ends.get(key)) is not None
    ]
    return sorted(rows, key=lambda r: -r[2])[:3]


class Holder:
    """The advisory lock the runs queue behind, on its own connection (opened before the waits start)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = with_params(dsn, application_name="bench-waits-lock")
        self.conn: psycopg.AsyncConnection[Any] | None = None

    async def lock(self) -> None:
        self.conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        await self.conn.execute(LOCK_SQL, (LOCK_KEY,))

    async def unlock(self) -> None:
        if self.conn is not None:
            await self.conn.execute(UNLOCK_SQL, (LOCK_KEY,))
            await self.conn.close()
            self.conn = None


# ---------------------------------------------------------------- a + b: triggers in one event loop


async def drive(trigger: Any, key: str, events: dict[str, tuple[datetime, dict[str, Any]]]) -> None:
    """What the triggerer does with a trigger: iterate ``run()``, take the first event."""
    try:
        async for event in trigger.run():
            events[key] = (now(), dict(event.payload))
            return
    except Exception as exc:  # noqa: BLE001 - a failing trigger is a measured outcome here
        events[key] = (now(), {"status": "exception", "message": f"{type(exc).__name__}: {exc}"})


async def triggers(
    dsn: str,
    n: int,
    *,
    probe: Probe,
    window: float,
    tag: str,
    kind: str,
    poll_interval: float,
) -> dict[str, Any]:
    from pgcron_airflow.triggers.pgcron import PgCronRunTrigger

    before = kind == "before"

    keys = [f"bench-waits-{tag}-{kind}-{i}" for i in range(n)]
    holder = Holder(dsn)
    await holder.lock()
    events: dict[str, tuple[datetime, dict[str, Any]]] = {}
    extra_refused = 0
    extras: list[psycopg.AsyncConnection[Any]] = []
    try:
        t_submit = time.monotonic()
        await submit_all(dsn, keys, BLOCKED_SQL)
        submit_s = time.monotonic() - t_submit
        if before:
            for i in range(n):
                os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}_BEFORE_{i}"] = as_uri(dsn, f"bench-before-{i}")
        else:
            os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = as_uri(dsn)

        async def one(i: int, key: str) -> None:
            nonlocal extra_refused
            conn_id = f"{CONN_ID}_before_{i}" if before else CONN_ID
            trigger = PgCronRunTrigger(postgres_conn_id=conn_id, key=key, poll_interval=poll_interval)
            if before:  # the client's own connection, as every AsyncClient held one before the change
                try:
                    extra = await psycopg.AsyncConnection.connect(
                        with_params(dsn, application_name=f"bench-before-{i}"), autocommit=True
                    )
                except psycopg.Error as exc:
                    extra_refused += 1
                    # before the change, AsyncClient.connect() failing here became the trigger's error event
                    events[key] = (now(), {"status": "error", "message": f"own connection: {exc}"})
                    return
                extras.append(extra)
            await drive(trigger, key, events)

        cpu0, wall0, t0 = time.process_time(), time.monotonic(), time.time()
        tasks = [asyncio.create_task(one(i, k)) for i, k in enumerate(keys)]
        await asyncio.sleep(window / 2)  # the triggers start (connection lookup, attach, first wait)
        cpu_half = time.process_time()
        await asyncio.sleep(window / 2)  # every wait is in flight: the runs are blocked on the lock
        cpu_window = time.process_time() - cpu_half
        ended_early = len(events)
        await holder.unlock()
        _, pending = await asyncio.wait(tasks, timeout=WAIT_TIMEOUT_S)
        for task in pending:
            task.cancel()
        wall = time.monotonic() - wall0
        cpu = time.process_time() - cpu0
        t1 = time.time()
    finally:
        await holder.unlock()
        for extra in extras:
            await extra.close()
    await asyncio.sleep(0.5)
    after = probe.window(time.time() - 0.4, time.time())
    statuses = Counter(payload.get("status") for _, payload in events.values())
    ends = await run_ends(dsn, keys)
    noticed = {k: when for k, (when, payload) in events.items() if payload.get("status") == "succeeded"}
    lat = latencies(ends, noticed)
    errors = [p.get("message", "") for _, p in events.values() if p.get("status") in ("error", "exception")]
    return {
        "waits": n,
        "failed": n - statuses.get("succeeded", 0),
        "error events": statuses.get("error", 0) + statuses.get("exception", 0),
        "hung": len(pending),
        **_conns(probe.window(t0, t1)),
        "conns after": after.get("peak_mine"),
        "notice p50 ms": pct(lat, 0.5),
        "notice p95 ms": pct(lat, 0.95),
        "cpu s": cpu,
        "cpu % (waiting)": 100 * cpu_window / (window / 2),
        "wall s": wall,
        "details": {
            "statuses": dict(statuses),
            "submit_s": submit_s,
            "events_before_release": ended_early,
            "own_connection_refused": extra_refused if before else None,
            "error_samples": sorted(Counter(_short(m) for m in errors).items(), key=lambda x: -x[1])[:5],
            "latency_samples": len(lat),
            "latency_max_ms": max(lat, default=None),
            "latency_over_100ms": sum(1 for x in lat if x > 100),
            "latency_top10_ms": sorted(lat, reverse=True)[:10],
            "slowest": worst(ends, noticed, t0),
            "poll_interval_s": poll_interval,
        },
    }


def _short(message: str) -> str:
    return message.splitlines()[0][:160] if message else ""


def _conns(window: dict[str, Any]) -> dict[str, Any]:
    return {
        "peak conns (process)": window.get("peak_mine"),
        "peak server clients": window.get("peak_clients"),
        "peak pg_cron jobs": window.get("peak_pg_cron_jobs"),
    }


# ---------------------------------------------------------------- c: SQLExecuteQueryOperator shape


async def sql_operator(dsn: str, n: int, *, probe: Probe, window: float) -> dict[str, Any]:
    """n concurrent tasks, each on its own connection running the statement (blocked on the lock)."""
    holder = Holder(dsn)
    await holder.lock()
    refused: list[str] = []
    done = 0
    ran_at: list[float] = []

    async def one(i: int) -> None:
        nonlocal done
        try:
            conn = await psycopg.AsyncConnection.connect(
                with_params(dsn, application_name=f"bench-sqlop-{i}"), autocommit=True, connect_timeout=30
            )
        except psycopg.Error as exc:
            refused.append(_short(str(exc)))
            return
        try:
            await conn.execute(BLOCKED_SQL)
            done += 1
            ran_at.append(time.monotonic())
        except psycopg.Error as exc:
            refused.append(_short(str(exc)))
        finally:
            await conn.close()

    try:
        cpu0, wall0, t0 = time.process_time(), time.monotonic(), time.time()
        tasks = [asyncio.create_task(one(i)) for i in range(n)]
        await asyncio.sleep(window)
        await holder.unlock()
        await asyncio.wait(tasks, timeout=WAIT_TIMEOUT_S)
        wall, cpu, t1 = time.monotonic() - wall0, time.process_time() - cpu0, time.time()
    finally:
        await holder.unlock()
    return {
        "waits": n,
        "failed": n - done,
        "error events": len(refused),
        "hung": n - done - len(refused),
        **_conns(probe.window(t0, t1)),
        "notice p50 ms": None,
        "notice p95 ms": None,
        "cpu s": cpu,
        "wall s": wall,
        "worker slots": n,
        "details": {
            "error_samples": sorted(Counter(refused).items(), key=lambda x: -x[1])[:5],
            "worker_slots": "each task holds a worker slot (and its connection) for the statement's duration",
        },
    }


# ---------------------------------------------------------------- d: sync Client across threads


def sync_threads(dsn: str, n: int, threads: int, *, probe: Probe, tag: str) -> dict[str, Any]:
    import pgcron

    per_thread = max(1, n // threads)
    noticed: dict[str, datetime] = {}
    failures: list[str] = []
    ok = 0
    lock = threading.Lock()
    baseline = {t.ident for t in threading.enumerate()}
    start = threading.Barrier(threads + 1)

    def worker(w: int) -> None:
        nonlocal ok
        start.wait()
        try:
            with pgcron.Client.connect(dsn) as client:
                for j in range(per_thread):
                    key = f"bench-waits-{tag}-sync-{w}-{j}"
                    try:
                        handle = client.submit(PLAIN_SQL, key=key)
                        run = client.wait(handle, timeout=WAIT_TIMEOUT_S)
                        when = now()
                    except pgcron.PgCronError as exc:
                        with lock:
                            failures.append(_short(str(exc)))
                        continue
                    with lock:
                        if run.status is pgcron.RunStatus.SUCCEEDED:
                            ok += 1
                            noticed[key] = when
                        else:
                            failures.append(f"run {run.status.value}: {_short(run.message or '')}")
        except pgcron.PgCronError as exc:
            with lock:
                failures.append(f"connect: {_short(str(exc))}")

    workers = [threading.Thread(target=worker, args=(w,), name=f"bench-worker-{w}") for w in range(threads)]
    for t in workers:
        t.start()
    mine = {t.ident for t in workers} | baseline
    extra_peak = 0
    extra_names: set[str] = set()
    cpu0, wall0, t0 = time.process_time(), time.monotonic(), time.time()
    start.wait()
    while any(t.is_alive() for t in workers):
        others = [t for t in threading.enumerate() if t.ident not in mine]
        extra_peak = max(extra_peak, len(others), threading.active_count() - len(mine))
        extra_names |= {t.name for t in others}
        time.sleep(0.05)
    wall, cpu, t1 = time.monotonic() - wall0, time.process_time() - cpu0, time.time()
    keys = [f"bench-waits-{tag}-sync-{w}-{j}" for w in range(threads) for j in range(per_thread)]
    ends = asyncio.run(run_ends(dsn, keys))
    lat = latencies(ends, noticed)
    total = per_thread * threads
    return {
        "waits": total,
        "failed": total - ok,
        "error events": len(failures),
        "hung": 0,
        **_conns(probe.window(t0, t1)),
        "notice p50 ms": pct(lat, 0.5),
        "notice p95 ms": pct(lat, 0.95),
        "cpu s": cpu,
        "wall s": wall,
        "threads started": extra_peak,
        "details": {
            "threads": threads,
            "runs_per_thread": per_thread,
            "in_flight_per_thread": 1,
            "library_thread_names": sorted(extra_names),
            "error_samples": sorted(Counter(failures).items(), key=lambda x: -x[1])[:5],
            "latency_samples": len(lat),
            "latency_max_ms": max(lat, default=None),
            "latency_over_100ms": sum(1 for x in lat if x > 100),
            "latency_top10_ms": sorted(lat, reverse=True)[:10],
            "slowest": worst(ends, noticed, t0),
        },
    }


# ---------------------------------------------------------------- main


def servers(args: argparse.Namespace) -> dict[str, str]:
    import pgcron.dev
    from pgcron.schema import install

    found: dict[str, str] = {}
    for mode, given, name, bgw in (
        ("bgw", args.dsn, "bench-waits-bgw", True),
        ("libpq", args.libpq_dsn, "bench-waits-libpq", False),
    ):
        if mode not in args.modes:
            continue
        dsn = given or pgcron.dev.up(name, background_workers=bgw, use_env=False).dsn
        install(dsn)
        found[mode] = dsn
    return found


def settings(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT name, setting FROM pg_catalog.pg_settings WHERE name = ANY(%s)",
            (["max_connections", "cron.max_running_jobs", "cron.use_background_workers", "server_version"],),
        ).fetchall()
    return {r[0]: r[1] for r in rows}


async def run_async(mode: str, dsn: str, args: argparse.Namespace, probe: Probe, tag: str) -> list[dict]:
    rows = []
    scenarios = [
        ("triggers, shared (now)", "shared"),
        ("triggers, shared (now), poll_interval 600 s", "shared-quiet"),
        ("triggers, per-trigger clients (before)", "before"),
        ("SQLExecuteQueryOperator (N connections)", "sqlop"),
    ]
    for label, kind in scenarios:
        if kind not in args.scenarios:
            continue
        print(f"[{mode}] {label} ...", flush=True)
        if kind == "sqlop":
            r = await sql_operator(dsn, args.waits, probe=probe, window=args.window)
        else:
            n = args.before_waits if kind == "before" else args.waits
            r = await triggers(
                dsn,
                n,
                probe=probe,
                window=args.window,
                tag=tag,
                kind=kind,
                poll_interval=600.0 if kind == "shared-quiet" else args.poll_interval,
            )
        rows.append({"mode": mode, "scenario": label, **r})
        print(json.dumps(rows[-1], default=str), flush=True)
        await asyncio.sleep(3)  # let the server settle (closed backends, pg_cron's queue) before the next one
    return rows


COLUMNS = [
    "mode",
    "scenario",
    "waits",
    "failed",
    "peak conns (process)",
    "peak server clients",
    "notice p50 ms",
    "notice p95 ms",
    "cpu s",
    "wall s",
    "threads started",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn", default=os.environ.get("PGCRON_DSN"), help="background-worker mode server")
    parser.add_argument("--libpq-dsn", default=os.environ.get("PGCRON_LIBPQ_DSN"), help="libpq mode server")
    parser.add_argument("--modes", default="bgw,libpq", help="comma-separated: bgw, libpq")
    parser.add_argument(
        "--scenarios",
        default="shared,shared-quiet,before,sqlop,sync",
        help="comma-separated subset (default: all)",
    )
    parser.add_argument("--waits", type=int, default=1000, help="waits per scenario (default 1000)")
    parser.add_argument("--before-waits", type=int, default=200, help="waits of the 'before' variant")
    parser.add_argument("--threads", type=int, default=50, help="threads of the sync scenario")
    parser.add_argument("--window", type=float, default=8.0, help="seconds all waits are in flight")
    parser.add_argument("--poll-interval", type=float, default=10.0, help="the trigger's poll_interval")
    parser.add_argument("--sample-ms", type=float, default=100.0, help="pg_stat_activity sampling period")
    parser.add_argument("--probe", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        dsn, pid, out, interval = args.probe
        probe_main(dsn, int(pid), out, float(interval))
        return
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="pgcron-bench-waits-airflow-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    counting = CountingHandler()
    logging.getLogger("pgcron").addHandler(counting)
    logging.getLogger("pgcron_airflow").addHandler(counting)
    logging.getLogger("pgcron").propagate = False
    tag = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    rows: list[dict[str, Any]] = []
    server_settings: dict[str, dict[str, str]] = {}
    for mode, dsn in servers(args).items():
        server_settings[mode] = settings(dsn)
        probe = Probe(dsn, args.sample_ms / 1000)
        try:
            rows += asyncio.run(run_async(mode, dsn, args, probe, tag))
            if "sync" in args.scenarios:
                print(f"[{mode}] sync Client, {args.threads} threads ...", flush=True)
                r = sync_threads(dsn, args.waits, args.threads, probe=probe, tag=tag)
                rows.append({"mode": mode, "scenario": f"sync Client, {args.threads} threads", **r})
                print(json.dumps(rows[-1], default=str), flush=True)
        finally:
            probe.close()
    report(
        "bench_waits",
        rows,
        columns=COLUMNS,
        packages=("pgcron", "airflow-provider-pgcron", "apache-airflow", "psycopg"),
        notes={
            "servers": server_settings,
            "blocked_statement": BLOCKED_SQL,
            "sync_statement": PLAIN_SQL,
            "window_s": args.window,
            "trigger_poll_interval_s": args.poll_interval,
            "sample_ms": args.sample_ms,
            "connections": "client backends whose client_port is a TCP socket of the benchmark process "
            "(psutil), sampled from pg_stat_activity by a separate probe process; pg_cron's job backends "
            "and the probe are not counted; 'peak server clients' counts every client backend",
            "notice": "trigger event (or Client.wait return) minus end_time of the claimed run "
            "(cron.job_run_details), else pgcron.submission.finished_at; succeeded runs only",
            "before": "per-trigger clients: each trigger on its own conninfo (application_name="
            "bench-before-<i>: own statement + LISTEN connection) plus one extra plain connection (the "
            "client's own, as before)",
            "library_log_records": dict(counting.counts),
        },
    )


if __name__ == "__main__":
    main()
