"""Hostile rows for the engine job: mallory must not make maintenance (which runs as the superuser that
installed pgcron) unschedule, cancel, erase, leak or stop anything (issue 11, rows 1, 3, 4, 5, 8, 13)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pgcron
import pytest
from pgcron.models import JobSpec

from .conftest import (
    TERMINAL,
    Cluster,
    Victim,
    attempt,
    job_exists,
    maintenance_jobid,
    maintenance_passes,
    query_all,
    scalar,
    superuser_job,
    wait_until,
)

pytestmark = pytest.mark.integration

# Mallory's forged submission row: every column the engine acted on was hers to write before 0004.
FORGED_SUBMISSION = (
    "INSERT INTO pgcron.submission (key, command, database, username, start_by, jobid, top_level, timeout,"
    " claimed_at, claimed_pid, finished_at, job_removed_at)"
    " VALUES (%s, 'SELECT 1', current_database(), current_user, %s::timestamptz, %s::bigint, %s::boolean,"
    " %s::interval, %s::timestamptz, %s::integer, %s::timestamptz, %s::timestamptz)"
)
_COLUMNS = (
    "start_by",
    "jobid",
    "top_level",
    "timeout",
    "claimed_at",
    "claimed_pid",
    "finished_at",
    "job_removed_at",
)


def ago(seconds: float = 0) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def forge(key: str, **values: object) -> tuple[str, tuple[object, ...]]:
    """The statement of one forged submission row (columns not given: NULL, or now for start_by)."""
    values.setdefault("start_by", ago())
    values.setdefault("top_level", False)
    return FORGED_SUBMISSION, (key, *(values.get(c) for c in _COLUMNS))


def test_forged_submissions_do_not_unschedule_other_jobs(cluster: Cluster, namespace: str) -> None:
    """Row 1: rows naming every jobid (they are sequential) as finished submissions of mallory's."""
    victim = superuser_job(cluster, f"{namespace}:nightly")
    alices = int(
        scalar(cluster.alice, "SELECT cron.schedule(%s, '0 0 1 1 *', 'SELECT 1')", (f"{namespace}:alice",))
    )
    engine = maintenance_jobid(cluster.dsn)
    assert engine is not None
    top = int(scalar(cluster.dsn, "SELECT max(jobid) FROM cron.job")) + 5
    attempt(
        cluster.mallory,
        (
            (
                "INSERT INTO pgcron.submission (key, command, database, username, start_by, jobid,"
                " finished_at)"
                " SELECT 'm-' || g, 'SELECT 1', current_database(), current_user, now(), g, now()"
                " FROM generate_series(1, %s) g"
            ),
            (top,),
        ),
    )
    maintenance_passes(cluster.dsn)
    missing = [j for j in (victim, alices, engine) if not job_exists(cluster.dsn, j)]
    assert not missing, (
        f"maintenance unscheduled jobs {missing} (victim {victim}, alice {alices}, engine {engine})"
    )


def test_forged_claim_does_not_make_the_watchdog_cancel_a_backend(cluster: Cluster) -> None:
    """Row 3: a claimed row with another backend's pid (pg_stat_activity shows every pid), 1 ms timeout."""
    victims = {"superuser": Victim(cluster.dsn), "alice": Victim(cluster.alice)}
    try:
        wait_until(lambda: all(v.sleeping(cluster.dsn) for v in victims.values()), 15, "the victims to sleep")
        attempt(
            cluster.mallory,
            *[
                forge(
                    f"m-cancel-{v.pid}",
                    start_by=ago(-600),
                    claimed_at=ago(),
                    claimed_pid=v.pid,
                    timeout="1 millisecond",
                )
                for v in victims.values()
            ],
        )
        maintenance_passes(cluster.dsn)
        canceled = [who for who, v in victims.items() if v.canceled or not v.sleeping(cluster.dsn)]
        assert not canceled, f"the watchdog canceled the query of {canceled}"
    finally:
        for v in victims.values():
            v.stop(cluster.dsn)


def _running_run(c: Cluster, jobid: int) -> int:
    """Wait for a run of ``jobid`` to be executing; its runid."""
    found: list[int] = []

    def running() -> bool:
        rows = query_all(
            c.dsn,
            "SELECT runid FROM cron.job_run_details WHERE jobid = %s AND status = 'running'"
            " ORDER BY runid DESC LIMIT 1",
            (jobid,),
        )
        found[:] = [r[0] for r in rows]
        return bool(found)

    wait_until(running, 30, f"a run of job {jobid} to start")
    return found[0]


def _assert_still_running(c: Cluster, runs: dict[str, int]) -> None:
    """Each victim's job run (``who -> runid``) is still executing."""
    for who, runid in runs.items():
        status, message = query_all(
            c.dsn, "SELECT status, return_message FROM cron.job_run_details WHERE runid = %s", (runid,)
        )[0]
        assert status == "running", f"{who}'s job run {runid} was stopped: {status} {message}"


def test_forged_apply_record_does_not_cancel_other_roles_job_runs(cluster: Cluster, namespace: str) -> None:
    """Row 4: an apply record with a 1 s timeout for another role's job; the job-timeout watchdog is running
    because the superuser applied a job that declares a timeout."""
    with pgcron.Client.connect(cluster.dsn) as client:
        plan = client.plan(
            [JobSpec("guarded", "0 0 1 1 *", "SELECT 1", timeout=timedelta(hours=1))], namespace=namespace
        )
        client.apply(plan)
    victims = {
        "alice": int(
            scalar(
                cluster.alice,
                "SELECT cron.schedule(%s, '2 seconds', 'SELECT pg_sleep(120)')",
                (f"{namespace}:alice-long",),
            )
        ),
        "superuser": superuser_job(cluster, f"{namespace}:su-long", "2 seconds", "SELECT pg_sleep(120)"),
    }
    runs = {who: _running_run(cluster, jobid) for who, jobid in victims.items()}
    try:
        attempt(
            cluster.mallory,
            *[
                (
                    (
                        "INSERT INTO pgcron.applied_job (jobid, jobname, namespace, username, spec)"
                        " VALUES (%s, %s, 'mallory', current_user, '{\"timeout_seconds\": 1}')"
                    ),
                    (jobid, f"mallory:{jobid}"),
                )
                for jobid in victims.values()
            ],
        )
        maintenance_passes(cluster.dsn)
        watchdog = scalar(cluster.dsn, "SELECT jobid FROM cron.job WHERE jobname = 'pgcron:job-timeouts'")
        if watchdog is not None:  # before 0004 the job watchdog was a job of its own
            wait_until(
                lambda: (
                    scalar(
                        cluster.dsn,
                        "SELECT count(*) FROM cron.job_run_details WHERE jobid = %s AND status = ANY(%s)"
                        " AND start_time > now() - interval '8 seconds'",
                        (watchdog, list(TERMINAL)),
                    )
                    >= 1
                ),
                30,
                "a pass of pgcron:job-timeouts",
            )
        _assert_still_running(cluster, runs)
    finally:
        for jobid in victims.values():
            query_all(cluster.dsn, "SELECT cron.unschedule(%s::bigint)", (jobid,))
        query_all(
            cluster.dsn,
            "SELECT pg_terminate_backend(job_pid) FROM cron.job_run_details WHERE runid = ANY(%s)"
            " AND job_pid IS NOT NULL",
            (list(runs.values()),),
        )


def test_a_timeout_on_the_same_command_cancels_only_its_own_roles_runs(
    cluster: Cluster, namespace: str
) -> None:
    """Row 4 (0008): maintenance also finds overdue runs in pg_stat_activity by their command. Mallory applies
    a job with alice's and the superuser's command and a 1 s timeout: only her own run of it is canceled."""
    command = "SELECT pg_sleep(120)"
    victims = {
        "alice": int(
            scalar(
                cluster.alice,
                "SELECT cron.schedule(%s, '2 seconds', %s)",
                (f"{namespace}:alice-same", command),
            )
        ),
        "superuser": superuser_job(cluster, f"{namespace}:su-same", "2 seconds", command),
    }
    runs = {who: _running_run(cluster, jobid) for who, jobid in victims.items()}
    mallorys: int | None = None
    try:
        with pgcron.Client.connect(cluster.mallory) as client:
            applied = client.apply(
                client.plan(
                    [JobSpec("same", "2 seconds", command, timeout=timedelta(seconds=1))], namespace="mallory"
                )
            )
        mallorys = applied.jobids["mallory:same"]
        mallory_run = _running_run(cluster, mallorys)
        wait_until(
            lambda: (
                scalar(
                    cluster.dsn, "SELECT status FROM cron.job_run_details WHERE runid = %s", (mallory_run,)
                )
                in TERMINAL
            ),
            40,
            "maintenance to cancel mallory's own overdue run (the check is live)",
        )
        maintenance_passes(cluster.dsn)
        _assert_still_running(cluster, runs)
    finally:
        for jobid in [*victims.values(), *([mallorys] if mallorys is not None else [])]:
            query_all(cluster.dsn, "SELECT cron.unschedule(%s::bigint)", (jobid,))
        query_all(
            cluster.dsn,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE query = %s AND pid <> pg_backend_pid()",
            (command,),
        )


def _alice_failing_job(c: Cluster, namespace: str, secret: str) -> tuple[int, list[int]]:
    """A job of alice's whose runs fail with ``secret`` in their return_message; its id and runids."""
    command = f"DO $$BEGIN RAISE EXCEPTION '{secret}'; END$$"  # secret: hex only
    jobid = int(
        scalar(c.alice, "SELECT cron.schedule(%s, '1 seconds', %s)", (f"{namespace}:secret", command))
    )

    def two_runs() -> bool:
        return (
            scalar(
                c.dsn,
                "SELECT count(*) FROM cron.job_run_details WHERE jobid = %s AND status = 'failed'",
                (jobid,),
            )
            >= 2
        )

    wait_until(two_runs, 30, "two runs of alice's job")
    query_all(c.alice, "SELECT cron.unschedule(%s::bigint)", (jobid,))
    runids = [
        r[0] for r in query_all(c.dsn, "SELECT runid FROM cron.job_run_details WHERE jobid = %s", (jobid,))
    ]
    return jobid, sorted(runids)


def test_forged_rows_do_not_erase_another_roles_history(cluster: Cluster, namespace: str, token: str) -> None:
    """Row 5 (erase): rows with alice's jobid that look like long-removed, claimed submissions."""
    jobid, runids = _alice_failing_job(cluster, namespace, f"secret-{token}")
    attempt(
        cluster.mallory,
        forge(
            f"m-erase-{token}",
            jobid=jobid,
            claimed_at=ago(3600),
            claimed_pid=1,
            finished_at=ago(3600),
            job_removed_at=ago(3600),
        ),
        ("CALL pgcron.purge_history(interval '1 microsecond')", ()),
        forge(
            f"m-erase-top-{token}", jobid=jobid, top_level=True, finished_at=ago(), job_removed_at=ago(3600)
        ),
    )
    maintenance_passes(cluster.dsn)
    left = [
        r[0]
        for r in query_all(cluster.dsn, "SELECT runid FROM cron.job_run_details WHERE jobid = %s", (jobid,))
    ]
    assert sorted(left) == runids, f"alice's run history was erased: {runids} -> {sorted(left)}"


def test_another_roles_return_message_is_not_readable(cluster: Cluster, namespace: str, token: str) -> None:
    """Row 5 (read): a top-level row with alice's jobid made maintenance copy her run's message into it."""
    secret = f"secret-{token}"
    jobid, _ = _alice_failing_job(cluster, namespace, secret)
    attempt(
        cluster.mallory,
        forge(f"m-read-{token}", jobid=jobid, top_level=True, start_by=ago(-600)),
    )
    maintenance_passes(cluster.dsn)
    seen = query_all(cluster.mallory, "SELECT s::text FROM pgcron.submission s")
    seen += query_all(cluster.mallory, "SELECT d::text FROM cron.job_run_details d")
    leaked = [row[0] for row in seen if secret in row[0]]
    assert not leaked, f"mallory read alice's return_message: {leaked}"


def test_poison_timeouts_do_not_stop_maintenance(cluster: Cluster, token: str) -> None:
    """Row 8: timeouts that overflow timestamps (a forged row, a submission, an apply record) must not stop
    the
    engine: alice's timed-out run is still canceled and her temporary job still removed."""
    attempt(
        cluster.mallory,
        forge(
            f"m-poison-{token}", start_by=ago(-600), claimed_at=ago(), claimed_pid=1, timeout="1000000 years"
        ),
        (
            "SELECT * FROM pgcron.submit('SELECT pg_sleep(1)', %s, NULL, NULL, interval '1000000 years')",
            (f"m-poison-api-{token}",),
        ),
        (
            (
                "INSERT INTO pgcron.applied_job (jobid, jobname, namespace, username, spec)"
                " VALUES (-1, 'mallory:poison', 'mallory', current_user, '{\"timeout_seconds\": 1e300}')"
            ),
            (),
        ),
    )
    with pgcron.Client.connect(cluster.alice) as client:
        handle = client.submit("SELECT pg_sleep(25)", timeout=2)
        run = client.wait(handle, timeout=60)
    assert run.message is not None and "exceeded its timeout" in run.message, (
        f"alice's run was not canceled at its timeout: {run.status} {run.message!r} after {run.duration}"
    )
    wait_until(lambda: not job_exists(cluster.dsn, handle.jobid), 25, "removal of alice's temporary job")


def test_a_flood_of_open_submissions_does_not_starve_maintenance(cluster: Cluster, token: str) -> None:
    """Next attack (rows 8/9): mallory opens 1,001 submissions of her own through the API and removes their
    jobs (hers to remove), so they stay open until they expire; alice's timed-out run must still be canceled
    and her temporary job removed."""
    attempt(
        cluster.mallory,
        (
            (
                "SELECT count(cron.unschedule(s.jobid)) FROM generate_series(1, 1001) g,"
                " LATERAL pgcron.submit('SELECT 1', 'm-flood-' || g) s"
            ),
            (),
        ),
    )
    with pgcron.Client.connect(cluster.alice) as client:
        handle = client.submit("SELECT pg_sleep(25)", timeout=2)
        run = client.wait(handle, timeout=60)
    assert run.message is not None and "exceeded its timeout" in run.message, (
        f"alice's run was not canceled at its timeout: {run.status} {run.message!r} after {run.duration}"
    )
    wait_until(lambda: not job_exists(cluster.dsn, handle.jobid), 25, "removal of alice's temporary job")


@contextlib.contextmanager
def engine_setting(c: Cluster, name: str, value: str) -> Iterator[None]:
    """Set a documented engine setting (pgcron.config, 0004) for the test; fails where there is none."""
    if scalar(c.dsn, "SELECT to_regclass('pgcron.config') IS NOT NULL") is not True:
        pytest.fail(f"the engine has no pgcron.config (no {name}): nothing bounds what it keeps")
    before = scalar(c.dsn, "SELECT value FROM pgcron.config WHERE name = %s", (name,))
    if before is None:
        pytest.fail(f"pgcron.config has no setting {name!r}")
    query_all(c.dsn, "UPDATE pgcron.config SET value = %s WHERE name = %s", (value, name))
    try:
        yield
    finally:
        query_all(c.dsn, "UPDATE pgcron.config SET value = %s WHERE name = %s", (before, name))


def _engine_rows(c: Cluster) -> list[tuple[int, float]]:
    """(runid, age in seconds) of the run rows of pgcron's own jobs (pgcron:*, the installer's)."""
    return query_all(
        c.dsn,
        "SELECT d.runid, extract(epoch FROM clock_timestamp() - d.start_time)::float8"
        " FROM cron.job_run_details d JOIN cron.job j USING (jobid)"
        " WHERE starts_with(j.jobname, 'pgcron:') AND j.username = current_user",
    )


def test_engine_run_rows_do_not_grow_on_an_idle_server(cluster: Cluster) -> None:
    """Row 13: the engine's own run rows are purged after `own_run_retention` (shortened here from its
    10-minute default so the test sees the steady state): their number stops growing."""
    with engine_setting(cluster, "own_run_retention", "15 seconds"):
        assert maintenance_passes(cluster.dsn, 2), "the engine job does not run"
        before = len(_engine_rows(cluster))
        assert maintenance_passes(cluster.dsn, 4, timeout=60), "the engine job does not run"
        rows = _engine_rows(cluster)
    assert len(rows) <= before + 1, f"pgcron's own run rows grew from {before} to {len(rows)} in four passes"
    old = [r for r in rows if r[1] is not None and r[1] > 15 + 15]
    assert not old, f"own run rows outlived the retention: {old}"


def test_finished_submissions_are_purged_after_retention(cluster: Cluster, token: str) -> None:
    """Row 13: a finished submission (full command text) and its run row are deleted after
    `submission_retention` (1 day by default; 2 s here)."""
    with (
        engine_setting(cluster, "submission_retention", "2 seconds"),
        pgcron.Client.connect(cluster.alice) as client,
    ):
        handle = client.submit("SELECT 1")
        run = client.wait(handle, timeout=60)
        assert run.status.name == "SUCCEEDED", run

        def retired() -> bool:
            left = scalar(
                cluster.dsn,
                "SELECT (SELECT count(*) FROM pgcron.submission WHERE id = %s)"
                " + (SELECT count(*) FROM cron.job_run_details WHERE runid = %s)",
                (handle.submission_id, run.runid),
            )
            return left == 0

        wait_until(retired, 60, "the engine to purge alice's finished submission and its run row")


def test_no_separate_job_timeout_watchdog(cluster: Cluster, namespace: str) -> None:
    """Row 13: applying a job with a timeout installs no `pgcron:job-timeouts` job (12 run rows a minute)."""
    with pgcron.Client.connect(cluster.dsn) as client:
        client.apply(
            client.plan(
                [JobSpec("guarded", "0 0 1 1 *", "SELECT 1", timeout=timedelta(minutes=5))],
                namespace=namespace,
            )
        )
    jobs = query_all(
        cluster.dsn, "SELECT jobid, username FROM cron.job WHERE jobname = 'pgcron:job-timeouts'"
    )
    assert not jobs, f"pgcron:job-timeouts exists: {jobs}"
    assert maintenance_jobid(cluster.dsn) is not None
