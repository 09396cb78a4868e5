"""`import pgcron` must not drag in Airflow or Dagster (the core installs and works without them)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import json, sys
import {module}
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'dagster', '{top}'))))
"""


@pytest.mark.parametrize("module", ["pgcron", "pgcron.cli", "pgcron.dev", "pgcron.testing.plugin"])
def test_import_does_not_load_airflow_or_dagster(module: str) -> None:
    # A fresh interpreter: this test process may already have imported either framework.
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module, top=module.split(".")[0])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    loaded = json.loads(out)
    assert module in loaded  # the probe sees what it imported, so it would see a framework too
    assert [m for m in loaded if m.split(".")[0] in ("airflow", "dagster")] == []
