"""The CLI's managed parts: `pgcron dev url [--superuser]` of a managed flavour and `pgcron schema grant`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from pgcron.cli import main

from tests.managed.conftest import Managed, connect

pytestmark = [pytest.mark.integration, pytest.mark.managed]


def test_dev_url_and_schema_grant(managed: Managed) -> None:
    name = managed.server.name
    runner = CliRunner()
    url = runner.invoke(main, ["dev", "url", "-n", name])
    assert url.exit_code == 0 and url.output.strip() == managed.admin
    su = runner.invoke(main, ["dev", "url", "-n", name, "--superuser"])
    assert su.exit_code == 0 and su.output.strip() == managed.superuser

    with connect(managed.admin) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'cli_app'").fetchone() is None:
            conn.execute("CREATE ROLE cli_app LOGIN")
    dry = runner.invoke(main, ["schema", "grant", "cli_app", "--dsn", managed.admin, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert 'GRANT USAGE ON SCHEMA "cron" TO "cli_app"' in dry.output
    result = runner.invoke(main, ["schema", "grant", "cli_app", "--dsn", managed.admin, "--json"])
    data = json.loads(result.output)
    held = {g["statement"].split(" TO ")[0]: g["held"] for g in data["grants"]}
    if managed.flavour == "neon":  # USAGE on cloud_admin's cron schema cannot be passed on
        assert result.exit_code == 1 and data["ok"] is False
        assert held['GRANT USAGE ON SCHEMA "cron"'] is False
        note = next(g["note"] for g in data["grants"] if '"cron"' in g["statement"])
        assert "cloud_admin" in note
    else:
        assert result.exit_code == 0 and data["ok"] is True, result.output
        assert all(held.values()), held
