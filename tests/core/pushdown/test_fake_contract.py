"""The shipped test doubles keep the contract of the real clients: one scenario, run against ``Client`` on a
real server (both execution modes) and against ``pgcron.testing.FakeClient``, observes the same things —
statuses, messages, rows, re-attach, ``KeyConflict``, the attempt chain, jobs."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pgcron
import pytest
from pgcron import ClientProtocol, JobSpec, RunStatus
from pgcron.testing import FakeClient

from .conftest import COUNTER

pytestmark = pytest.mark.integration


def scripted_fake() -> FakeClient:
    """The fake, told what the database would answer (it runs no SQL)."""
    fake = FakeClient()
    fake.script("SELECT 1", rows=1)
    fake.fail("SELECT 1/0", "ERROR: division by zero")
    return fake


def scenario(client: ClientProtocol, tag: str, prefix: str) -> dict[str, Any]:
    """What a DAG or asset author can observe, as plain values (ids only as relations between calls)."""
    seen: dict[str, Any] = {}
    handle = client.submit("SELECT 1", key=f"{tag}:ok")
    run = client.wait(handle)
    seen["ok"] = (run.status, run.message, run.rows, run.runid > 0, run.duration is not None)
    again = client.submit("SELECT 1", key=f"{tag}:ok")
    attached = client.attach(f"{tag}:ok")
    seen["re-attach"] = (
        again.submission_id == attached.submission_id == handle.submission_id,
        again.runid == attached.runid == run.runid,
        again.status,
        attached.message,
    )
    seen["run(runid)"] = (client.run(run.runid).status, client.run(run.runid).message)
    with pytest.raises(pgcron.KeyConflict) as conflict:
        client.submit("SELECT 2", key=f"{tag}:ok")
    seen["conflict"] = "different command" in str(conflict.value)
    with pytest.raises(pgcron.RunFailed) as failed:
        client.run_now("SELECT 1/0", key=f"{tag}:fail")
    assert failed.value.run is not None
    seen["failed"] = (failed.value.run.status, failed.value.run.message, failed.value.run.rows)
    with pytest.raises(pgcron.SubmissionNotFound):
        client.attach(f"{tag}:never")
    with pytest.raises(pgcron.UnsupportedCommand):
        client.submit("BEGIN; SELECT 1; COMMIT", key=f"{tag}:tx")

    vacuum = client.submit(f"VACUUM {COUNTER}", key=f"{tag}:vacuum")  # top level: starts at a minute boundary
    client.cancel(vacuum)
    canceled = client.wait(vacuum)
    seen["canceled"] = (canceled.status, canceled.message, canceled.runid)

    first = client.submit_attempt("SELECT 1/0", key=f"{tag}:retry")
    client.wait(first.handle)
    second = client.submit_attempt("SELECT 1/0", key=f"{tag}:retry")
    latest = client.latest_attempt(f"{tag}:retry")
    assert latest is not None
    seen["attempts"] = (first.number, second.number, second.key == f"{tag}:retry#2", latest.number)
    seen["attempt re-attach"] = client.submit_attempt("SELECT 1/0", key=f"{tag}:retry").reattached

    job = client.schedule(JobSpec(f"{prefix}nightly", "0 3 * * *", "SELECT 1"))
    moved = client.schedule(JobSpec(f"{prefix}nightly", "30 3 * * *", "SELECT 1"))
    seen["job"] = (
        moved.jobid == job.jobid,
        moved.schedule,
        moved.command,
        moved.active,
        client.job(f"{prefix}nightly").jobid == job.jobid,
        job.jobid in {j.jobid for j in client.jobs()},
        client.runs(job=job, limit=5),
    )
    client.unschedule(job.jobid)
    with pytest.raises(pgcron.JobNotFound):
        client.job(f"{prefix}nightly")
    return seen


EXPECTED = {
    "ok": (RunStatus.SUCCEEDED, "1 row", 1, True, True),
    "re-attach": (True, True, RunStatus.SUCCEEDED, "1 row"),
    "run(runid)": (RunStatus.SUCCEEDED, "1 row"),
    "conflict": True,
    "failed": (RunStatus.FAILED, "ERROR: division by zero", None),
    "canceled": (RunStatus.CANCELED, "canceled before it started", 0),
    "attempts": (1, 2, True, 2),
    "attempt re-attach": True,
    "job": (True, "30 3 * * *", "SELECT 1", True, True, True, []),
}


@pytest.fixture
def real_client(engine_dsn: str) -> Iterator[pgcron.Client]:
    with pgcron.Client.connect(engine_dsn) as client:
        yield client


def test_the_real_client_observes_the_contract(real_client: pgcron.Client, job_prefix: str) -> None:
    assert scenario(real_client, f"contract:{secrets.token_hex(4)}", job_prefix) == EXPECTED


def test_the_fake_observes_the_same_contract() -> None:
    assert scenario(scripted_fake(), "contract", "t_") == EXPECTED


async def test_the_async_twins_agree(engine_dsn: str) -> None:
    tag = f"contract-async:{secrets.token_hex(4)}"
    seen = []
    async with await pgcron.AsyncClient.connect(engine_dsn) as real:
        for client in (real, scripted_fake().aio):
            ok = await client.wait(await client.submit("SELECT 1", key=f"{tag}:ok"))
            again = await client.submit("SELECT 1", key=f"{tag}:ok")
            with pytest.raises(pgcron.KeyConflict):
                await client.submit("SELECT 2", key=f"{tag}:ok")
            with pytest.raises(pgcron.RunFailed) as failed:
                await client.run_now("SELECT 1/0", key=f"{tag}:fail")
            assert failed.value.run is not None
            seen.append((ok.status, ok.message, ok.rows, again.runid == ok.runid, failed.value.run.message))
    assert seen[0] == seen[1] == (RunStatus.SUCCEEDED, "1 row", 1, True, "ERROR: division by zero")
