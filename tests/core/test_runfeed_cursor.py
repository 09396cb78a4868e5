"""Unit tests of ``pgcron.runfeed.RunCursor`` (no database): every finished run of a feed is returned once,
also when runs end out of runid order, across restarts from the serialized cursor, and at the bound."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from pgcron import InvalidCursor, PgCronError, Run, RunStatus
from pgcron.runfeed import MAX_RANGES, SETTLE, RunCursor

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=1)  # every run below ended long before, unless a test says otherwise
S = RunStatus


def run(runid: int, status: RunStatus = S.SUCCEEDED, *, ended: datetime | None = None) -> Run:
    start = T0 + timedelta(seconds=runid)
    end = (ended or start + timedelta(seconds=1)) if status.is_terminal else None
    return Run(runid, 1, status, status.value, None, None, start, end)


def ids(runs: list[Run]) -> list[int]:
    return [r.runid for r in runs]


def tick(cursor: RunCursor, feed: list[Run], now: datetime = NOW) -> list[Run]:
    """What an observer does each poll: the feed after the watermark, one page."""
    page = [r for r in feed if r.runid > cursor.watermark]
    return cursor.advance(page, settled_before=now - SETTLE)


def test_runs_that_end_out_of_order_are_returned_once_each() -> None:
    feed = [run(1), run(2, S.RUNNING), run(3, S.FAILED), run(4), run(5, S.RUNNING)]
    cursor = RunCursor()
    assert ids(tick(cursor, feed)) == [1, 3, 4]
    assert cursor.watermark == 1 and cursor.settled_ranges == ((3, 4),)
    assert ids(tick(cursor, feed)) == []  # nothing new
    feed[4] = run(5)  # the later run ends first
    assert ids(tick(cursor, feed)) == [5]
    assert cursor.watermark == 1 and cursor.settled_ranges == ((3, 5),)
    feed[1] = run(2, S.CANCELED)
    assert ids(tick(cursor, feed)) == [2]
    assert cursor.watermark == 5 and cursor.settled_ranges == ()


def test_restart_from_the_serialized_cursor_neither_repeats_nor_skips() -> None:
    feed = [run(10, S.RUNNING), run(11), run(12, S.LOST), run(13, S.RUNNING), run(14)]
    first = RunCursor(watermark=9)
    assert ids(tick(first, feed)) == [11, 12, 14]
    text = first.serialize()
    assert text == "9;11-12,14"
    restarted = RunCursor.parse(text)
    assert restarted == first
    feed[0], feed[3] = run(10), run(13, S.FAILED)
    feed.append(run(15))
    assert ids(tick(restarted, feed)) == [10, 13, 15]
    assert restarted.serialize() == "15"


def test_a_run_that_ended_moments_ago_does_not_close_the_runids_below_it() -> None:
    # pg_cron takes a runid when it inserts the row: a smaller runid can become visible a moment later
    cursor = RunCursor()
    young = run(10, ended=NOW - timedelta(seconds=1))
    assert ids(tick(cursor, [young])) == [10]
    assert cursor.watermark == 0 and cursor.settled_ranges == ((10, 10),)
    late = run(9)  # committed after the first poll
    assert ids(tick(cursor, [late, young], NOW + SETTLE)) == [9]
    assert cursor.watermark == 10


def test_a_long_run_holding_the_watermark_costs_one_range() -> None:
    # the feed returns one job's runs: the runids between them (other jobs' runs) are gaps
    feed = [run(1, S.RUNNING)] + [run(i) for i in range(3, 20_000, 3)]
    cursor = RunCursor()
    assert len(tick(cursor, feed)) == len(feed) - 1
    assert cursor.watermark == 0 and cursor.settled_ranges == ((2, 19_998),)
    assert cursor.is_settled(5) and not cursor.is_settled(1) and not cursor.is_settled(19_999)


def test_pages_of_one_poll_keep_a_blocking_run_of_an_earlier_page_open() -> None:
    feed = [run(1), run(2, S.RUNNING), run(3), run(4), run(5)]
    cursor = RunCursor()
    assert ids(cursor.advance(feed[:3], settled_before=NOW - SETTLE)) == [1, 3]
    assert ids(cursor.advance(feed[3:], settled_before=NOW - SETTLE, after=3)) == [4, 5]
    assert cursor.watermark == 1 and cursor.settled_ranges == ((3, 5),)
    assert not cursor.is_settled(2)


def test_the_bound_moves_the_watermark_over_the_oldest_unfinished_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # every other run is still going: each finished one is a range of its own
    feed = [run(i, S.RUNNING if i % 2 else S.SUCCEEDED) for i in range(1, 2 * (MAX_RANGES + 5) + 1)]
    cursor = RunCursor()
    with caplog.at_level(logging.WARNING, logger="pgcron.runfeed"):
        assert len(tick(cursor, feed)) == MAX_RANGES + 5
    assert len(cursor.settled_ranges) == MAX_RANGES
    assert cursor.watermark == 10  # passed the runs 1, 3, 5, 7 and 9, still going
    assert "passes runids 1, 3, 5, 7, 9" in caplog.text
    within = RunCursor.parse(cursor.serialize())
    assert within == cursor  # a cursor at the bound round-trips unchanged


def test_parse_refuses_what_serialize_cannot_write() -> None:
    assert RunCursor.parse("1234") == RunCursor(watermark=1234)  # a saved "last runid"
    assert RunCursor.parse(" 7;9-12,15 ").settled_ranges == ((9, 12), (15, 15))
    for text in ("", "x", "-1", "5;", "5;9-", "5;12-9", '{"w": 5}', "5;6,7;8"):
        with pytest.raises(InvalidCursor):
            RunCursor.parse(text)
    assert RunCursor.parse("5;6-8,10") == RunCursor(8, [(10, 10)])  # normalized: 6-8 joins the watermark


def test_advance_refuses_runs_out_of_order() -> None:
    with pytest.raises(PgCronError, match="oldest first"):
        RunCursor().advance([run(3), run(2)], settled_before=NOW)
