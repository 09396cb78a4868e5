"""The attempt chain of retried submissions (``Client.submit_attempt`` / ``latest_attempt``) on a real server:
the newest attempt is found in one statement, and the chain's bound is one clear error. That another role's
keys are never part of the chain is proven with hostile roles in
``tests/security/test_pushdown.py::test_mallorys_attempt_keys_do_not_steer_alices_retries``."""

from __future__ import annotations

import secrets
from typing import Any

import pgcron
import pytest
from pgcron import RunStatus, SubmissionNotFound, TooManyAttempts
from pgcron.pushdown import WaiterHub, attempts

from .conftest import ensure_engine

pytestmark = pytest.mark.integration


@pytest.fixture
def dsn(pgcron_dsn: str) -> str:
    ensure_engine(pgcron_dsn)
    return pgcron_dsn


def _count_statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements the sync waiter hub sends from now on (the pushdown's one way to the server)."""
    sent: list[str] = []
    execute = WaiterHub.execute

    def counted(self: WaiterHub, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        sent.append(query)
        return execute(self, query, params)

    monkeypatch.setattr(WaiterHub, "execute", counted)
    return sent


def test_newest_attempt_is_found_in_one_statement(dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    base = f"retry-{secrets.token_hex(4)}"
    with pgcron.Client.connect(dsn) as client:
        assert client.latest_attempt(base) is None  # also warms the waiter hub and its preflight
        made = {n: client.submit("SELECT 1", key=attempts.attempt_key(base, n)) for n in (1, 2, 3, 5)}
        sent = _count_statements(monkeypatch)
        newest = client.latest_attempt(base)
        assert newest is not None and newest.reattached
        # 5 without 4: the chain ends at the first number not used
        assert newest.number == 3 and newest.key == f"{base}#3"
        assert newest.handle.submission_id == made[3].submission_id
        # one lookup statement for the whole chain, then one for the newest attempt's state
        assert len(sent) == 2 and "WITH RECURSIVE chain" in sent[0] and "RECURSIVE" not in sent[1]
        assert client.latest_attempt(f"{base}-other") is None


def test_submit_attempt_reattaches_reruns_after_failure_and_stops_at_the_bound(
    dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = f"retry-{secrets.token_hex(4)}"
    with pgcron.Client.connect(dsn) as client:
        first = client.submit_attempt("SELECT 1/0", key=base)
        assert (first.number, first.key, first.reattached) == (1, base, False)
        again = client.submit_attempt("SELECT 1/0", key=base)  # still pending or running: follow it
        assert again.reattached and again.handle.submission_id == first.handle.submission_id
        assert client.wait(first.handle, timeout=60).status is RunStatus.FAILED

        second = client.submit_attempt("SELECT 1/0", key=base)
        assert (second.number, second.key, second.reattached) == (2, f"{base}#2", False)
        assert client.wait(second.handle, timeout=60).status is RunStatus.FAILED
        kept = client.submit_attempt("SELECT 1/0", key=base, rerun_failed=False)
        assert kept.reattached and kept.number == 2 and kept.handle.status is RunStatus.FAILED

        monkeypatch.setattr(attempts, "MAX_ATTEMPTS", 2)
        with pytest.raises(TooManyAttempts, match="at most 2") as info:
            client.submit_attempt("SELECT 1", key=base)
        assert "new key" in info.value.message
        with pytest.raises(SubmissionNotFound):
            client.attach(f"{base}#3")  # nothing was submitted at the bound
        monkeypatch.undo()

        third = client.submit_attempt("SELECT 1", key=base)
        assert third.number == 3 and not third.reattached
        assert client.wait(third.handle, timeout=60).status is RunStatus.SUCCEEDED
        done = client.submit_attempt("SELECT 1", key=base)  # succeeded: the result, not a new run
        assert done.reattached and done.number == 3 and done.handle.status is RunStatus.SUCCEEDED


async def test_async_client_has_the_same_attempt_chain(dsn: str) -> None:
    base = f"retry-{secrets.token_hex(4)}"
    async with await pgcron.AsyncClient.connect(dsn) as client:
        assert await client.latest_attempt(base) is None
        made = await client.submit_attempt("SELECT 1", key=base)
        found = await client.latest_attempt(base)
        assert (
            found is not None
            and found.number == 1
            and found.handle.submission_id == made.handle.submission_id
        )


def test_a_base_key_leaves_room_for_every_attempt_suffix(dsn: str) -> None:
    with pgcron.Client.connect(dsn) as client, pytest.raises(pgcron.PgCronError, match="room for '#1000'"):
        client.submit_attempt("SELECT 1", key="k" * (attempts.MAX_BASE_KEY_LENGTH + 1))
