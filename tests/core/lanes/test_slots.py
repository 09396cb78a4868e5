"""Doctor's lane finding (pure): lane workers against cron.max_running_jobs."""

from __future__ import annotations

import pytest
from pgcron.errors import PgCronError
from pgcron.lanes import check_workers, slot_warning


def test_no_lanes_no_finding() -> None:
    assert slot_warning(0, 5) is None


def test_room_left_no_finding() -> None:
    assert slot_warning(2, 5) is None  # 5 - 2 lanes - 1 engine job = 2 free


def test_starving_the_cap_is_named_with_the_fix() -> None:
    message = slot_warning(3, 5)
    assert message is not None and "1 remain" in message and "pgcron lane stop" in message
    assert "0 remain" in (slot_warning(8, 5) or "")


def test_unknown_cap() -> None:
    assert "not readable" in (slot_warning(1, None) or "")


def test_check_workers() -> None:
    assert check_workers(4) == 4
    for bad in (0, 33, True, "2"):
        with pytest.raises(PgCronError, match="1 to 32"):
            check_workers(bad)
