"""The run audit (docs/audit.md) on every managed flavour, as the customer's admin and as an app role:
``client.audit`` and ``pgcron audit`` find each role's failed runs in its own jobs, read ``cron.timezone``
through the engine's helper (the setting is superuser-only), and see other roles' jobs only where the
provider lets the admin see every job."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pgcron
import pytest
from click.testing import CliRunner
from pgcron.audit import AuditReport, FindingKind
from pgcron.cli import main

from tests.managed.conftest import Managed, connect, eventually

pytestmark = [pytest.mark.integration, pytest.mark.managed]

#: Whether the customer admin sees app roles' jobs in cron.job: RDS and Cloud SQL grant their admin group a
#: read policy, Supabase's postgres has BYPASSRLS; on Azure row security shows each role its own (Neon: no
#: app roles with jobs).
ADMIN_SEES_ALL = {"rds": True, "cloudsql": True, "azure": False, "supabase": True, "neon": False}
LATE = timedelta(seconds=3)
WINDOW = timedelta(minutes=10)


def _namespace(role: str) -> str:
    return f"mgaudit{role.replace('_', '')}"


@pytest.fixture
def audited_jobs(managed: Managed) -> Iterator[tuple[str, ...]]:
    """Per pushdown role (the admin and app_a): ``<ns>:ok`` and ``<ns>:bad`` every second, as that role."""
    roles = managed.pushdown_roles[:2]
    for role in roles:
        with connect(managed.dsn(role)) as conn:
            ns = _namespace(role)
            conn.execute("SELECT cron.schedule(%s, '1 seconds', 'SELECT 1')", (f"{ns}:ok",))
            conn.execute("SELECT cron.schedule(%s, '1 seconds', 'SELECT 1/0')", (f"{ns}:bad",))
    try:
        yield roles
    finally:
        for role in roles:
            with connect(managed.dsn(role)) as conn:
                for job in ("ok", "bad"):
                    conn.execute("SELECT cron.unschedule(%s)", (f"{_namespace(role)}:{job}",))


def _audit(dsn: str, namespace: str) -> AuditReport:
    with pgcron.Client.connect(dsn) as client:
        return client.audit(WINDOW, job_prefix=f"{namespace}:", late_after=LATE)


def _audit_with_failures(dsn: str, namespace: str) -> AuditReport:
    """The audit once it has judged at least two failed runs (they must be older than ``LATE``)."""

    def judged() -> AuditReport | None:
        report = _audit(dsn, namespace)
        return report if report.by_kind()["failed"] >= 2 else None

    report = eventually(judged, timeout=40)
    assert report is not None, _audit(dsn, namespace).to_dict()
    return report


def test_audit_finds_each_roles_failed_runs(managed: Managed, audited_jobs: tuple[str, ...]) -> None:
    for role in audited_jobs:
        dsn, ns = managed.dsn(role), _namespace(role)
        report = _audit_with_failures(dsn, ns)
        assert report.jobs == 2 and report.timezone == "GMT", report.to_dict()
        failed = [f for f in report.findings if f.kind is FindingKind.FAILED]
        assert {f.job for f in failed} == {f"{ns}:bad"}, report.to_dict()
        assert all("division by zero" in f.message for f in failed), report.to_dict()

        result = CliRunner().invoke(
            main, ["audit", "--namespace", ns, "--since", "10m", "--late", "3s", "--json", "--dsn", dsn]
        )
        assert result.exit_code == 1, result.output  # 1: findings
        data = json.loads(result.stdout)
        assert data["jobs"] == 2 and data["summary"]["failed"] >= 2, data
        assert {f["job"] for f in data["findings"] if f["kind"] == "failed"} == {f"{ns}:bad"}

    admin, *apps = audited_jobs
    for app in apps:  # row security: an app role audits only its own jobs; the admin where the provider says
        assert _audit(managed.dsn(app), _namespace(admin)).jobs == 0
        assert _audit(managed.admin, _namespace(app)).jobs == (2 if ADMIN_SEES_ALL[managed.flavour] else 0)
