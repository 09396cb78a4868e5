"""Jobs-file reading and validation (unit: no database)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml
from pgcron.jobsfile import (
    JobsFileError,
    format_duration,
    load_jobs_file,
    parse_duration,
    parse_jobs_document,
)

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
SCHEMA = json.loads((ROOT / "docs" / "jobs-file.schema.json").read_text())


def test_toml_and_yaml_examples_declare_the_same_jobs() -> None:
    toml_file = load_jobs_file(EXAMPLES / "jobs.toml")
    yaml_file = load_jobs_file(EXAMPLES / "jobs.yaml")
    assert toml_file.namespace == yaml_file.namespace == "shop"
    assert toml_file.jobs == yaml_file.jobs
    assert toml_file.retention == yaml_file.retention
    names = [j.name for j in toml_file.jobs]
    assert names == ["expire-reservations", "purge-events", "refresh-daily-sales"]
    refresh = toml_file.jobs[2]
    assert refresh.command.endswith(
        "REFRESH MATERIALIZED VIEW CONCURRENTLY shop.daily_sales"
    )  # from sql_file
    assert toml_file.jobs[0].timeout == timedelta(seconds=30)
    assert toml_file.jobs[1].tags == ("shop",)  # from [defaults]


@pytest.mark.parametrize("name", ["jobs.toml", "jobs.yaml"])
def test_examples_match_the_published_json_schema(name: str) -> None:
    path = EXAMPLES / name
    document = (
        yaml.safe_load(path.read_text())
        if name.endswith(".yaml")
        else __import__("tomllib").loads(path.read_text())
    )
    jsonschema.validate(document, SCHEMA)


def test_json_schema_rejects_what_the_validator_rejects() -> None:
    bad = {"namespace": "shop", "jobs": [{"name": "x", "schedule": "* * * * *"}]}  # no command
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)
    with pytest.raises(JobsFileError):
        parse_jobs_document(json.dumps(bad), fmt="yaml")


def test_every_problem_names_file_job_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'namespace = "Bad Name"\ncolour = 1\n'
        '[[jobs]]\nname = "ok"\nschedule = "* * * * * *"\ncommand = "COPY t TO STDOUT"\ntimeout = "soon"\n'
        '[[jobs]]\nname = "ok"\nschedule = "0 0 * * *"\ncommand = "SELECT 1"\n'
        '[[jobs]]\nname = "both"\nschedule = "@daily"\ncommand = "SELECT 1"\nsql_file = "x.sql"\n'
    )
    with pytest.raises(JobsFileError) as caught:
        load_jobs_file(path)
    problems = {(p.job, p.field) for p in caught.value.problems}
    assert (None, "namespace") in problems
    assert (None, "colour") in problems
    assert ("'ok' (jobs[0])", "schedule") in problems
    assert ("'ok' (jobs[0])", "command") in problems
    assert ("'ok' (jobs[0])", "timeout") in problems
    assert ("'ok' (jobs[1])", "name") in problems  # duplicate
    assert ("'both' (jobs[2])", "command") in problems
    assert all(p.file == str(path) for p in caught.value.problems)
    text = str(caught.value)
    assert "COPY" in text and "strict mode" in text and "duplicate job name" in text


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"namespace": "pgcron", "jobs": []}, "namespace"),
        ({"jobs": []}, "namespace"),
        ({"namespace": "a:b", "jobs": []}, "namespace"),
        ({"namespace": "ok", "retention": {"keep": "forever"}}, "retention.keep"),
        ({"namespace": "ok", "retention": {"keep": "7d", "scope": "galaxy"}}, "retention.scope"),
        (
            {
                "namespace": "ok",
                "jobs": [{"name": "_retention", "schedule": "@daily", "command": "SELECT 1"}],
            },
            "name",
        ),
        ({"namespace": "ok", "jobs": [{"name": "x", "schedule": "@daily", "command": "  "}]}, "command"),
        (
            {
                "namespace": "ok",
                "jobs": [{"name": "x", "schedule": "@daily", "command": "SELECT 1", "active": "yes"}],
            },
            "active",
        ),
    ],
)
def test_invalid_documents(doc: dict[str, object], field: str) -> None:
    with pytest.raises(JobsFileError) as caught:
        parse_jobs_document(json.dumps(doc), fmt="yaml", path="f.yaml")
    assert field in {p.field for p in caught.value.problems}


def test_unparseable_text_reports_the_format() -> None:
    with pytest.raises(JobsFileError, match="not valid TOML"):
        parse_jobs_document("namespace = ", fmt="toml")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("2h", 7200),
        ("7d", 604800),
        ("1h30m", 5400),
        ("1w", 604800),
        (45, 45),
        ("250ms", 0.25),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


@pytest.mark.parametrize("text", ["", "soon", "7", "-5s", 0, True, "5 parsecs"])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
