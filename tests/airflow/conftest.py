"""Airflow tests run against a scratch ``AIRFLOW_HOME`` so nothing touches a user's Airflow."""

from __future__ import annotations

import os
import tempfile

# Set before anything imports airflow (its config is read at import time).
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="pgcron-airflow-unit-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
