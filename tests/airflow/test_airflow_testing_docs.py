"""The Airflow example of docs/testing.md runs as written: its tests pass against the fake."""

from __future__ import annotations

from collections.abc import Callable


def test_the_dag_example_tests_pass(doc_example_tests: Callable[..., list[Callable[[], object]]]) -> None:
    tests = doc_example_tests("testing.md", "test_rollup_dag.py")
    assert len(tests) >= 3
    for test in tests:
        test()
