"""A top-level (one-shot) pushdown of an app role on providers where the engine owner cannot see that role's
run rows: the client reports the run, and the role's next submit removes the one-shot job (left scheduled,
the same minute would fire again next year). Slow: a one-shot job starts at the next minute boundary.
"""

from __future__ import annotations

import pgcron
import pytest
from pgcron.models import RunStatus

from tests.managed.conftest import Managed, eventually, rows, scalar

pytestmark = [pytest.mark.integration, pytest.mark.managed, pytest.mark.slow]


@pytest.mark.parametrize("pgcron_managed", ["rds", "azure"], indirect=True)
def test_top_level_pushdown_of_an_app_role_leaves_no_job(managed: Managed) -> None:
    with pgcron.Client.connect(managed.dsn("app_a")) as client:
        handle = client.submit("VACUUM pg_catalog.pg_class")
        run = client.wait(handle, timeout=200)
    assert run.status is RunStatus.SUCCEEDED, run

    def gone() -> bool:
        scalar(managed.dsn("app_a"), "SELECT pgcron.tidy_own()")  # what app_a's next submit does first
        return not rows(
            managed.superuser,
            "SELECT 1 FROM cron.job WHERE username = 'app_a' AND starts_with(jobname, 'pgcron:run:')",
        )

    assert eventually(gone, timeout=30)
