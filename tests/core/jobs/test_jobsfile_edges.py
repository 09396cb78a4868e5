"""Input edges of the jobs file and the history CLI (issue 11, row 15; unit: no database).

Each hostile or malformed input must give one clear ``PgCronError`` naming what is wrong and the fix (or a
click usage error, exit 2): never a traceback, a bare ``ValueError``, a silently different meaning, or a
read of a file outside the jobs file's directory.
"""

from __future__ import annotations

import json
import math
import os
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from pgcron.cli import main as cli
from pgcron.client import Client
from pgcron.errors import PgCronError
from pgcron.history import InvalidPurge
from pgcron.jobsfile import (
    InvalidDuration,
    JobsFileError,
    check_namespace,
    load_jobs_file,
    parse_duration,
    parse_jobs_document,
)

JOB = '[[jobs]]\nname = "a"\nschedule = "@daily"\n'


def _problems(exc: JobsFileError) -> dict[str | None, str]:
    return {p.field: p.message for p in exc.problems}


@pytest.fixture
def deadline() -> Iterator[None]:
    """Fail (instead of hanging the suite) when a parse does not return within 5 s."""

    def expired(signum: int, frame: object) -> None:
        raise AssertionError("parsing did not finish within 5 s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(5)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# -- names: anchored at the very end -----------------------------------------------------------------------


@pytest.mark.parametrize("namespace", ["pgcron\n", "shop\n", "shop\n\n", "", "a:b", "Shop", "x" * 41])
def test_namespace_with_trailing_newline_or_bad_form_is_refused(namespace: str) -> None:
    assert check_namespace(namespace) is not None
    with pytest.raises(JobsFileError) as caught:
        parse_jobs_document(f'namespace = "{namespace.encode("unicode_escape").decode()}"\n', fmt="toml")
    assert "namespace" in _problems(caught.value)


def test_reserved_namespace_with_newline_is_refused_in_yaml() -> None:
    with pytest.raises(JobsFileError) as caught:
        parse_jobs_document('namespace: "pgcron\\n"\njobs: []\n', fmt="yaml")
    assert "not a valid namespace" in _problems(caught.value)["namespace"]


@pytest.mark.parametrize(("field", "value"), [("name", "a\\n"), ("tags", "ok\\n")], ids=["job name", "tag"])
def test_job_name_and_tag_with_trailing_newline_are_refused(field: str, value: str) -> None:
    name = value if field == "name" else "a"
    tags = f'["{value}"]' if field == "tags" else "[]"
    text = (
        f'namespace = "shop"\n[[jobs]]\nname = "{name}"\nschedule = "@daily"\ncommand = "SELECT 1"\n'
        f"tags = {tags}\n"
    )
    with pytest.raises(JobsFileError) as caught:
        parse_jobs_document(text, fmt="toml")
    assert field in _problems(caught.value)


# -- YAML: duplicate keys, aliases, merge keys --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "namespace: shop\nnamespace: billing\njobs: []\n",
        (
            "namespace: shop\njobs:\n  - name: a\n    schedule: '@daily'\n    command: SELECT 1\n"
            "    command: DROP TABLE important\n"
        ),
    ],
    ids=["top level", "inside a job"],
)
def test_yaml_duplicate_keys_are_an_error(text: str) -> None:
    with pytest.raises(JobsFileError) as caught:
        parse_jobs_document(text, fmt="yaml", path="jobs.yaml")
    message = str(caught.value)
    assert "duplicate key" in message and "line" in message
    assert caught.value.problems[0].file == "jobs.yaml"


def test_toml_duplicate_keys_are_an_error() -> None:
    with pytest.raises(JobsFileError, match="not valid TOML"):
        parse_jobs_document('namespace = "shop"\nnamespace = "billing"\n', fmt="toml")


# The classic 369-byte "billion laughs": 9 levels of 9 aliases expand to 9**9 (387 million) strings.
BILLION_LAUGHS = (
    "namespace: shop\n"
    "version: 1\n"
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)


def test_yaml_alias_bomb_is_refused_without_expanding_it(tmp_path: Path, deadline: None) -> None:
    assert len(BILLION_LAUGHS.encode()) == 369
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    with pytest.raises(JobsFileError) as caught:
        load_jobs_file(path)
    message = str(caught.value)
    assert "aliases (*a) are not allowed" in message and str(path) in message


def test_yaml_merge_keys_and_simple_aliases_are_refused() -> None:
    text = "namespace: shop\ndefaults: &d {database: app}\njobs:\n  - <<: *d\n    name: a\n"
    with pytest.raises(JobsFileError, match="aliases"):
        parse_jobs_document(text, fmt="yaml")
    with pytest.raises(JobsFileError, match="merge keys"):
        parse_jobs_document("namespace: shop\njobs:\n  - <<: {name: a}\n", fmt="yaml")


def test_yaml_keys_of_mixed_types_are_reported_not_a_traceback() -> None:
    with pytest.raises(JobsFileError) as caught:
        parse_jobs_document("namespace: shop\n1: x\nnull: y\ncolour: z\njobs: []\n", fmt="yaml")
    assert {"1", "None", "colour"} <= set(_problems(caught.value))


# -- encoding, size, file kinds -----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_invalid_utf8_names_the_file_and_byte_offset(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"jobs{suffix}"
    path.write_bytes(b'namespace = "shop"\n# caf\xe9\n')
    with pytest.raises(JobsFileError) as caught:
        load_jobs_file(path)
    (problem,) = caught.value.problems
    assert problem.file == str(path)
    assert "not valid UTF-8 at byte offset 24 (line 2)" in problem.message


def test_a_fifo_is_refused_instead_of_blocking(tmp_path: Path, deadline: None) -> None:
    path = tmp_path / "jobs.toml"
    os.mkfifo(path)
    # Opening a FIFO for reading blocks until a writer appears: give it one that writes nothing.
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    try:
        with pytest.raises(JobsFileError, match="not a regular file"):
            load_jobs_file(path)
    finally:
        os.close(fd)


# -- durations: timeout and retention keep ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("inf", "finite"),
        ("nan", "finite"),
        ("-inf", "finite"),
        ("1e300", "at most"),
        ("-5", "positive"),
        ("0", "positive"),
        ('"0s"', "positive"),
        ('"32d"', "at most 31 days"),
        ('"31d1s"', "at most 31 days"),
        ("2678401", "at most 31 days"),
        ('"99999999999999999999d"', "expected a duration"),
        ('"5s\\n"', ""),  # whitespace around the parts is allowed: this one is fine
    ],
)
def test_timeout_edges(value: str, expected: str) -> None:
    text = f'namespace = "shop"\n{JOB}command = "SELECT 1"\ntimeout = {value}\n'
    if not expected:
        assert parse_jobs_document(text, fmt="toml").jobs[0].timeout == timedelta(seconds=5)
        return
    with pytest.raises(JobsFileError) as caught:
        parse_jobs_document(text, fmt="toml")
    message = _problems(caught.value)["timeout"]
    assert expected in message


def test_timeout_of_31_days_is_accepted() -> None:
    text = f'namespace = "shop"\n{JOB}command = "SELECT 1"\ntimeout = "31d"\n'
    assert parse_jobs_document(text, fmt="toml").jobs[0].timeout == timedelta(days=31)


def test_yaml_infinite_timeout_in_defaults() -> None:
    text = (
        "namespace: shop\ndefaults: {timeout: .inf}\n"
        "jobs:\n  - {name: a, schedule: '@daily', command: SELECT 1}\n"
    )
    with pytest.raises(JobsFileError, match="finite"):
        parse_jobs_document(text, fmt="yaml")


@pytest.mark.parametrize("keep", ['"500ms"', '"999ms"', '"1500ms"', "0.5", "1.25", '"0s"', "inf", '"40000w"'])
def test_retention_keep_under_a_second_or_fractional_is_refused(keep: str) -> None:
    with pytest.raises(JobsFileError) as caught:
        parse_jobs_document(f'namespace = "shop"\n[retention]\nkeep = {keep}\n', fmt="toml")
    assert "retention.keep" in _problems(caught.value)


@pytest.mark.parametrize(
    ("keep", "seconds"), [('"1s"', 1), ('"1000ms"', 1), ("86400", 86400), ('"7d"', 604800)]
)
def test_retention_keep_in_whole_seconds_is_accepted(keep: str, seconds: int) -> None:
    loaded = parse_jobs_document(f'namespace = "shop"\n[retention]\nkeep = {keep}\n', fmt="toml")
    assert loaded.retention is not None and loaded.retention.keep == timedelta(seconds=seconds)


@pytest.mark.parametrize("value", [math.inf, math.nan, 1e300, -1, 0, "1e300", 10**30])
def test_parse_duration_raises_pgcron_error(value: object) -> None:
    with pytest.raises(InvalidDuration) as caught:
        parse_duration(value)
    assert isinstance(caught.value, PgCronError) and isinstance(caught.value, ValueError)


# -- sql_file: confined to the jobs file's directory, content never echoed ----------------------------------


SECRET = "root:x:0:0:TOPSECRET-CONTENT"


@pytest.fixture
def jobs_dir(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.sql").write_text(SECRET)
    inside = tmp_path / "project"
    (inside / "sql").mkdir(parents=True)
    (inside / "sql" / "ok.sql").write_text("SELECT 1")
    (inside / "sql" / "escape.sql").symlink_to(outside / "secret.sql")
    (inside / "sql" / "dir-link").symlink_to(outside, target_is_directory=True)
    return inside


def _load_with_sql_file(jobs_dir: Path, sql_file: str) -> JobsFileError:
    path = jobs_dir / "jobs.toml"
    path.write_text(f'namespace = "shop"\n{JOB}sql_file = "{sql_file}"\n')
    with pytest.raises(JobsFileError) as caught:
        load_jobs_file(path)
    assert SECRET not in str(caught.value) and "TOPSECRET" not in str(caught.value)
    return caught.value


@pytest.mark.parametrize(
    ("sql_file", "expected"),
    [
        ("/etc/passwd", "absolute path"),
        ("OUTSIDE", "absolute path"),
        ("../outside/secret.sql", "outside the jobs file's directory"),
        ("sql/../../outside/secret.sql", "outside the jobs file's directory"),
        ("sql/escape.sql", "outside the jobs file's directory"),
        ("sql/dir-link/secret.sql", "outside the jobs file's directory"),
        ("sql/missing.sql", "cannot read"),
        ("sql", "Is a directory"),
        ("", "non-empty"),
    ],
)
def test_sql_file_must_stay_inside_the_directory(jobs_dir: Path, sql_file: str, expected: str) -> None:
    if sql_file == "OUTSIDE":
        sql_file = str(jobs_dir.parent / "outside" / "secret.sql")
    error = _load_with_sql_file(jobs_dir, sql_file)
    assert expected in _problems(error)["sql_file"]


def test_sql_file_parse_errors_do_not_quote_the_file(jobs_dir: Path) -> None:
    # PostgreSQL's parser quotes the token it stopped at ('syntax error at or near "TOPSECRET"').
    (jobs_dir / "sql" / "bad.sql").write_text("TOPSECRET-CONTENT is not SQL")
    error = _load_with_sql_file(jobs_dir, "sql/bad.sql")
    assert "not valid SQL" in _problems(error)["sql_file"]


def test_sql_file_inside_the_directory_still_works(jobs_dir: Path) -> None:
    path = jobs_dir / "jobs.toml"
    path.write_text(f'namespace = "shop"\n{JOB}sql_file = "sql/ok.sql"\n')
    assert load_jobs_file(path).jobs[0].command == "SELECT 1"


def test_sql_file_with_invalid_utf8(jobs_dir: Path) -> None:
    (jobs_dir / "sql" / "latin1.sql").write_bytes(b"SELECT 'caf\xe9'")
    error = _load_with_sql_file(jobs_dir, "sql/latin1.sql")
    assert "not valid UTF-8 at byte offset 11" in _problems(error)["sql_file"]


# -- history purge: an empty namespace never means "everything" ---------------------------------------------


@pytest.mark.parametrize("namespace", ["", " ", "shop\n", "a:b", "pgcron", "Shop"])
def test_history_purge_refuses_an_empty_or_invalid_namespace(namespace: str) -> None:
    # The DSN points nowhere: the option is refused before any connection is attempted.
    result = CliRunner().invoke(
        cli,
        ["history", "purge", "--older-than", "7d", "--namespace", namespace, "--dsn", "host=/nonexistent"],
    )
    assert result.exit_code == 2, result.output
    assert "--namespace" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("older_than", ["500", "inf", "0s", "99999999999999999999d"])
def test_history_purge_refuses_bad_durations_as_usage_errors(older_than: str) -> None:
    result = CliRunner().invoke(
        cli, ["history", "purge", "--older-than", older_than, "--dsn", "host=/nonexistent"]
    )
    assert result.exit_code == 2, result.output
    assert "--older-than" in result.output


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"job_prefix": ""}, "job_prefix"),
        ({"job_prefix": "  "}, "job_prefix"),
        ({"batch": 0}, "batch"),
        ({"older_than": timedelta(0)}, "older_than"),
        ({"older_than": timedelta(days=100_000)}, "older_than"),
    ],
)
def test_purge_history_api_refuses_before_touching_the_connection(
    kwargs: dict[str, object], expected: str
) -> None:
    args: dict[str, object] = {"older_than": timedelta(days=7), **kwargs}
    with pytest.raises(InvalidPurge, match=expected):
        Client(None, None).purge_history(**args)  # type: ignore[arg-type]  # no database: refused first


@pytest.mark.parametrize("field", ["command", "database", "username", "description"])
def test_nul_characters_are_refused_before_they_reach_postgres(field: str) -> None:
    job = {"name": "a", "schedule": "@daily", "command": "SELECT 1", field: "x\x00y"}
    if field == "command":
        job["command"] = "SELECT 1 -- \x00"
    with pytest.raises(JobsFileError) as caught:
        parse_jobs_document(json.dumps({"namespace": "shop", "jobs": [job]}), fmt="yaml")
    assert field in _problems(caught.value)


async def test_pushdown_key_longer_than_200_characters_is_refused_before_connecting() -> None:
    # Row 15: a 2.7 kB key used to reach the server's unique index and end in "lost the connection".
    from pgcron.pushdown.service import AsyncPushdown

    pushdown = AsyncPushdown("host=/nonexistent-socket-dir connect_timeout=1")
    with pytest.raises(PgCronError, match="at most 200"):
        await pushdown.submit("SELECT 1", key="k" * 2_700)
