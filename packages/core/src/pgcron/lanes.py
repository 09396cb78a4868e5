"""Lanes: the I/O-free part of ``AsyncClient.lane_*`` / ``Client.lane_*`` (docs/adr/0006-lanes.md).

A lane is an opt-in set of long-running pg_cron jobs ``pgcron:lane:<n>`` owned by one role in pg_cron's
database; each worker claims that role's pushdown submissions and runs them at once (milliseconds instead of
pg_cron's 1-2 s), with exactly that role's rights. Each worker holds one of ``cron.max_running_jobs``' slots
for as long as it runs. The engine side is migration ``0006_lanes.sql``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from pgcron.errors import PgCronError

__all__ = [
    "MAX_WORKERS",
    "LaneStatus",
    "LaneWorker",
    "check_workers",
    "lane_slot_warning",
    "slot_warning",
    "status_from_rows",
]

MAX_WORKERS = 32  # the engine's bound (pgcron._lane_configure)
FRESH_S = 3.0  # a worker that reported within this long (and whose backend is alive) takes submissions


@dataclass(frozen=True, slots=True)
class LaneWorker:
    """One worker of a lane: its pg_cron job and its last report.

    ``state`` is the worker's own report (``idle``, ``busy``, ``sleeping`` — idle, woken by the next
    submission —, ``restarting`` between two pg_cron runs, ``stopped``), or ``starting`` when its job exists
    but it has not reported yet. ``live``: it takes submissions now.
    """

    worker: int
    jobid: int | None
    state: str
    pid: int | None
    alive: bool
    live: bool
    heartbeat_age: float | None
    submission_id: int | None
    served: int
    runs: int
    run_started_at: datetime | None
    last_claim_at: datetime | None
    scheduled: bool


@dataclass(frozen=True, slots=True)
class LaneStatus:
    """The caller's lane in one database: how many workers were asked for and what each reports."""

    role: str
    database: str
    wanted: int
    workers: tuple[LaneWorker, ...]

    @property
    def live(self) -> int:
        """Workers taking submissions now."""
        return sum(1 for w in self.workers if w.live)

    @property
    def running(self) -> int:
        """Workers whose backend is alive (a stopping lane's workers finish what they run)."""
        return sum(1 for w in self.workers if w.alive and w.state not in ("stopped",))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["live"] = self.live
        data["running"] = self.running
        for worker in data["workers"]:
            for name in ("run_started_at", "last_claim_at"):
                if worker[name] is not None:
                    worker[name] = worker[name].isoformat()
        return data


def check_workers(workers: object) -> int:
    """The number of workers, validated like the engine does (1 to 32)."""
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= MAX_WORKERS:
        raise PgCronError(
            f"a lane has 1 to {MAX_WORKERS} workers, got {workers!r}; each holds one of "
            "cron.max_running_jobs' slots for as long as it runs"
        )
    return workers


def status_from_rows(rows: list[dict[str, Any]], *, role: str = "", database: str = "") -> LaneStatus:
    """The ``lane_status`` query's rows as a ``LaneStatus``."""
    workers = []
    for row in rows:
        if row["worker"] is None:
            continue
        state = row["state"] or "starting"
        alive = bool(row["alive"]) and state in ("idle", "busy", "sleeping")
        age = row["heartbeat_age"]
        fresh = age is not None and age < FRESH_S
        workers.append(
            LaneWorker(
                worker=row["worker"],
                jobid=row["jobid"],
                state=state,
                pid=row["pid"] if alive else None,
                alive=alive,
                live=alive and row["worker"] <= row["wanted"] and (fresh or state == "busy"),
                heartbeat_age=age,
                submission_id=row["submission_id"] if state == "busy" else None,
                served=row["served"],
                runs=row["runs"],
                run_started_at=row["run_started_at"],
                last_claim_at=row["last_claim_at"],
                scheduled=row["jobid"] is not None
                and bool(row["active"])
                and row["schedule"] != "0 0 31 2 *",
            )
        )
    first = rows[0] if rows else {}
    return LaneStatus(
        role=first.get("role", role),
        database=first.get("database", database),
        wanted=first.get("wanted", 0),
        workers=tuple(workers),
    )


def slot_warning(lane_workers: int, max_running_jobs: int | None, *, engine_jobs: int = 1) -> str | None:
    """Doctor's finding for lanes (query ``lane_slots``): a warning when lane workers leave fewer than two of
    ``cron.max_running_jobs``' slots for everything else (the engine job, scheduled jobs, pushdown jobs),
    or ``None``. ``max_running_jobs`` is ``None`` when the role may not read it."""
    if lane_workers <= 0:
        return None
    if max_running_jobs is None:
        return (
            f"{lane_workers} lane worker(s) each hold one of cron.max_running_jobs' slots; the limit is not "
            "readable by this role, so check it leaves room for scheduled jobs"
        )
    free = max_running_jobs - lane_workers - engine_jobs
    if free >= 2:
        return None
    return (
        f"{lane_workers} lane worker(s) hold {lane_workers} of cron.max_running_jobs = {max_running_jobs} "
        f"slots; {max(free, 0)} remain for scheduled and pushdown jobs (beside the engine job). Stop or "
        "shrink a lane (`pgcron lane start --workers N` / `pgcron lane stop`) or raise "
        "cron.max_running_jobs (restart)."
    )


def lane_slot_warning(
    rows: Sequence[Mapping[str, Any]],
    settings: Mapping[str, str],
    *,
    resized: tuple[str, str, int] | None = None,
) -> str | None:
    """``slot_warning`` for the lane workers of the ``lane_slots`` rows and the ``cron.*`` settings read.

    ``resized = (role, database, workers)`` counts that lane as ``workers`` whatever it has now: what a plan
    that resizes it would leave (doctor counts the lanes as they are).
    """
    kept = [r for r in rows if resized is None or (r["role"], r["database"]) != resized[:2]]
    workers = sum(int(r["workers"]) for r in kept)
    if resized is not None:
        workers += resized[2]
    limit = settings.get("cron.max_running_jobs")
    return slot_warning(workers, int(limit) if limit is not None else None)
