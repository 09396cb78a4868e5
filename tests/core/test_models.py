"""Unit tests of the public models (pgcron.models)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pgcron
import pytest
from pgcron.models import Capabilities, JobSpec, Run, RunHandle, RunStatus


def test_terminal_and_active_partition_the_statuses() -> None:
    terminal = {s for s in RunStatus if s.is_terminal}
    active = {s for s in RunStatus if s.is_active}
    assert terminal == {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.LOST}
    assert active == {RunStatus.PENDING, RunStatus.RUNNING}
    assert [s for s in RunStatus if s.is_success] == [RunStatus.SUCCEEDED]


def test_models_are_frozen() -> None:
    spec = JobSpec(name="a", schedule="* * * * *", command="SELECT 1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "b"  # type: ignore[misc]


def test_jobspec_defaults_follow_the_contract() -> None:
    spec = JobSpec(name="a", schedule="* * * * *", command="SELECT 1")
    assert (spec.database, spec.username, spec.active, spec.timeout, spec.description, spec.tags) == (
        None,
        None,
        True,
        None,
        None,
        (),
    )


def _run(status: RunStatus, end: datetime | None) -> Run:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return Run(
        runid=1,
        jobid=2,
        status=status,
        raw_status="succeeded",
        message=None,
        return_message=None,
        start_time=start,
        end_time=end,
    )


def test_run_duration_only_when_over() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert _run(RunStatus.SUCCEEDED, start + timedelta(seconds=3)).duration == timedelta(seconds=3)
    assert _run(RunStatus.RUNNING, start + timedelta(seconds=3)).duration is None
    assert _run(RunStatus.LOST, None).duration is None


def test_handle_duration() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    h = RunHandle(key="k", submission_id=1, jobid=None, start=start, end=start + timedelta(seconds=2))
    assert h.duration == timedelta(seconds=2)
    assert RunHandle(key="k", submission_id=1, jobid=None).duration is None


def test_capabilities_is_hashable_despite_the_settings_dict() -> None:
    caps = Capabilities(
        extversion="1.6",
        library_version="1.6",
        server_version_num=170000,
        current_database="postgres",
        current_user="u",
        is_superuser=False,
        settings_visible=False,
    )
    assert hash(caps) == hash(dataclasses.replace(caps))
    assert caps.is_bgw is None and not caps.launcher_running


def test_public_names_are_exported() -> None:
    for name in ("Client", "AsyncClient", "JobSpec", "Job", "Run", "RunStatus", "RunHandle", "Capabilities"):
        assert name in pgcron.__all__
        assert getattr(pgcron, name) is not None
