"""The Dagster example of docs/testing.md runs as written: its tests pass against the fake."""

from __future__ import annotations

from collections.abc import Callable


def test_the_asset_example_tests_pass(doc_example_tests: Callable[..., list[Callable[[], object]]]) -> None:
    tests = doc_example_tests("testing.md", "test_sales_assets.py")
    assert len(tests) >= 5
    for test in tests:
        test()
