"""Jobs files: recurring pg_cron jobs declared as code, in TOML or YAML.

One file declares one *namespace* and the jobs it owns (docs/jobs-file.md, schema in
docs/jobs-file.schema.json, ownership rules in docs/adr/0004-jobs-namespace.md). This module only reads
and validates; ``pgcron.plan`` compares the result with the server. Every problem found is reported at
once, each naming the file, the job and the field, so one run of ``pgcron plan`` shows all of them.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from pgcron import commands
from pgcron.errors import PgCronError, ScheduleError, UnsupportedCommand
from pgcron.models import JobSpec
from pgcron.schedule import Schedule

__all__ = [
    "NAMESPACE_SEPARATOR",
    "RESERVED_NAMESPACES",
    "JobsFile",
    "JobsFileError",
    "Problem",
    "Retention",
    "format_duration",
    "load_jobs_file",
    "parse_duration",
    "parse_jobs_document",
    "qualified_name",
]

logger = logging.getLogger(__name__)

#: Owned job names are ``<namespace>:<name>`` (ADR 0004).
NAMESPACE_SEPARATOR = ":"
#: ``pgcron`` holds the engine's own jobs (``pgcron:maintenance``, ``pgcron:run:<id>``).
RESERVED_NAMESPACES = frozenset({"pgcron"})
#: The local name of the retention job a file's ``[retention]`` table installs.
RETENTION_JOB = "_retention"

_NAMESPACE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_JOB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,62}$")
_DURATION_RE = re.compile(r"(\d+)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_DURATION_FULL_RE = re.compile(r"^\s*(?:\d+\s*(?:ms|s|m|h|d|w)\s*)+$", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

_TOP_KEYS = {"namespace", "version", "defaults", "jobs", "retention"}
_JOB_KEYS = {
    "name",
    "schedule",
    "command",
    "sql_file",
    "database",
    "username",
    "active",
    "timeout",
    "description",
    "tags",
}
_DEFAULT_KEYS = {"database", "username", "active", "timeout", "tags"}
_RETENTION_KEYS = {"keep", "schedule", "batch", "scope", "username", "database"}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a jobs file: where it is and what to do about it."""

    file: str
    job: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.job is not None:
            where.append(f"job {self.job}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        return f"{': '.join(where)}: {self.message}"


class JobsFileError(PgCronError, ValueError):
    """The jobs file is not valid. Each problem below names the file, the job and the field to fix."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        count = len(self.problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in the jobs file:\n{lines}", problems=self.problems
        )


@dataclass(frozen=True, slots=True)
class Retention:
    """History retention declared by a jobs file: installs the job ``<namespace>:_retention``.

    ``scope="namespace"`` purges only runs of this namespace's jobs; ``"all"`` purges every run the
    job's role may delete (all of them for a superuser).
    """

    keep: timedelta
    schedule: str = "17 * * * *"
    batch: int = 10_000
    scope: str = "namespace"
    username: str | None = None
    database: str | None = None


@dataclass(frozen=True, slots=True)
class JobsFile:
    """A validated jobs file. ``jobs`` carry local names; ``qualified_name`` adds the namespace."""

    path: str
    namespace: str
    jobs: tuple[JobSpec, ...]
    retention: Retention | None = None
    sources: Mapping[str, str] = field(default_factory=dict)  # local job name -> "jobs[i]" for messages


def qualified_name(namespace: str, name: str) -> str:
    """``<namespace>:<name>``, the pg_cron job name of a declared job (idempotent)."""
    prefix = namespace + NAMESPACE_SEPARATOR
    return name if name.startswith(prefix) else prefix + name


def parse_duration(value: object) -> timedelta:
    """Read a duration: ``"7d"``, ``"1h30m"``, ``"90s"``, ``"250ms"`` or a number of seconds.

    Raises ``ValueError`` with the accepted forms when ``value`` is none of these.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"a duration must be positive, got {value!r}")
        return timedelta(seconds=value)
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str) or not _DURATION_FULL_RE.match(value):
        raise ValueError(
            f"expected a duration such as '30s', '15m', '2h', '7d' or '1h30m' "
            f"(units ms, s, m, h, d, w), got {value!r}"
        )
    seconds = sum(int(n) * _UNITS[unit.lower()] for n, unit in _DURATION_RE.findall(value))
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest ``parse_duration`` spelling of ``value`` (``timedelta(hours=36)`` → ``"1d12h"``)."""
    total_ms = round(value.total_seconds() * 1000)
    if total_ms % 1000:
        return f"{total_ms}ms"
    seconds = total_ms // 1000
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def load_jobs_file(path: str | Path) -> JobsFile:
    """Read and validate a ``.toml``, ``.yaml`` or ``.yml`` jobs file.

    ``sql_file`` paths are relative to the jobs file. Raises ``JobsFileError`` listing every problem.
    """
    file = Path(path)
    label = str(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        problem = Problem(label, None, None, f"cannot read the file: {exc.strerror or exc}")
        raise JobsFileError([problem]) from exc
    suffix = file.suffix.lower()
    if suffix == ".toml":
        fmt = "toml"
    elif suffix in (".yaml", ".yml"):
        fmt = "yaml"
    else:
        raise JobsFileError(
            [Problem(label, None, None, "unknown file type: name the file *.toml, *.yaml or *.yml")]
        )
    return parse_jobs_document(text, fmt=fmt, path=label, base_dir=file.parent)


def parse_jobs_document(
    text: str, *, fmt: str, path: str = "<jobs file>", base_dir: Path | None = None
) -> JobsFile:
    """Validate the text of a jobs file (``fmt`` is ``"toml"`` or ``"yaml"``)."""
    try:
        if fmt == "toml":
            document: Any = tomllib.loads(text)
        elif fmt == "yaml":
            document = yaml.safe_load(text)
        else:
            raise ValueError(f"unknown format {fmt!r}: use 'toml' or 'yaml'")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise JobsFileError([Problem(path, None, None, f"not valid {fmt.upper()}: {exc}")]) from exc
    return _Validator(path, base_dir).document(document)


class _Validator:
    """Collects problems instead of stopping at the first one."""

    def __init__(self, path: str, base_dir: Path | None) -> None:
        self.path = path
        self.base_dir = base_dir
        self.problems: list[Problem] = []

    def problem(self, job: str | None, fld: str | None, message: str) -> None:
        self.problems.append(Problem(self.path, job, fld, message))

    def document(self, doc: Any) -> JobsFile:
        if not isinstance(doc, dict):
            self.problem(None, None, "the top level must be a table/mapping with 'namespace' and 'jobs'")
            raise JobsFileError(self.problems)
        for key in sorted(set(doc) - _TOP_KEYS):
            self.problem(None, str(key), f"unknown key; allowed: {', '.join(sorted(_TOP_KEYS))}")
        version = doc.get("version", 1)
        if version != 1 or isinstance(version, bool):
            self.problem(None, "version", f"unsupported version {version!r}; this pgcron reads version 1")
        namespace = self.namespace(doc.get("namespace"))
        defaults = self.defaults(doc.get("defaults", {}))
        jobs, sources = self.jobs(doc.get("jobs"), defaults)
        retention = self.retention(doc.get("retention"))
        if self.problems:
            raise JobsFileError(self.problems)
        return JobsFile(self.path, namespace, tuple(jobs), retention, sources)

    def namespace(self, value: Any) -> str:
        if value is None:
            self.problem(
                None,
                "namespace",
                'missing: every jobs file declares the namespace it owns, e.g. namespace = "billing"',
            )
            return ""
        if not isinstance(value, str) or not _NAMESPACE_RE.match(value):
            self.problem(
                None,
                "namespace",
                f"{value!r} is not a valid namespace: use 1-40 characters "
                "a-z, 0-9, '_' or '-', starting with a letter or digit (no ':')",
            )
            return ""
        if value in RESERVED_NAMESPACES:
            self.problem(None, "namespace", f"{value!r} is reserved for pgcron's own jobs; pick another name")
            return ""
        return value

    def defaults(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.problem(None, "defaults", "must be a table/mapping")
            return {}
        for key in sorted(set(value) - _DEFAULT_KEYS):
            self.problem(None, f"defaults.{key}", f"unknown key; allowed: {', '.join(sorted(_DEFAULT_KEYS))}")
        return {k: v for k, v in value.items() if k in _DEFAULT_KEYS}

    def jobs(self, value: Any, defaults: dict[str, Any]) -> tuple[list[JobSpec], dict[str, str]]:
        if value is None:
            value = []
        if not isinstance(value, list):
            self.problem(None, "jobs", "must be a list of jobs ([[jobs]] in TOML, '- name: …' in YAML)")
            return [], {}
        specs: list[JobSpec] = []
        sources: dict[str, str] = {}
        seen: dict[str, str] = {}
        for index, raw in enumerate(value):
            where = f"jobs[{index}]"
            if not isinstance(raw, dict):
                self.problem(where, None, "each job must be a table/mapping")
                continue
            name = raw.get("name")
            label = f"{name!r} ({where})" if isinstance(name, str) else where
            if isinstance(name, str) and name in seen:
                self.problem(label, "name", f"duplicate job name; also used by {seen[name]}")
                continue
            if isinstance(name, str):
                seen[name] = where
            spec = self.job(raw, defaults, label)
            if spec is None:
                continue
            sources[spec.name] = where
            specs.append(spec)
        return specs, sources

    def job(self, raw: dict[str, Any], defaults: dict[str, Any], label: str) -> JobSpec | None:
        before = len(self.problems)
        for key in sorted(set(raw) - _JOB_KEYS):
            self.problem(label, str(key), f"unknown key; allowed: {', '.join(sorted(_JOB_KEYS))}")
        merged = {**defaults, **raw}
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            self.problem(label, "name", "missing or not a string")
        elif name == RETENTION_JOB or not _JOB_NAME_RE.match(name):
            self.problem(
                label,
                "name",
                f"{name!r} is not a valid job name: use 1-100 characters A-Z, a-z, "
                "0-9, '_', '.' or '-', starting with a letter or digit (the namespace and ':' "
                "are added for you)",
            )
        schedule = raw.get("schedule")
        if not isinstance(schedule, str) or not schedule.strip():
            self.problem(
                label,
                "schedule",
                "missing or empty: give a cron schedule such as '*/5 * * * *' "
                "or an interval such as '30 seconds'",
            )
        else:
            error = check_schedule(schedule)
            if error:
                self.problem(label, "schedule", error)
        command = self.command(raw, label)
        database = self.optional_str(merged, "database", label)
        username = self.optional_str(merged, "username", label)
        active = merged.get("active", True)
        if not isinstance(active, bool):
            self.problem(label, "active", f"must be true or false, got {active!r}")
        timeout: timedelta | None = None
        if merged.get("timeout") is not None:
            try:
                timeout = parse_duration(merged["timeout"])
            except ValueError as exc:
                self.problem(label, "timeout", str(exc))
        description = raw.get("description")
        if description is not None and not isinstance(description, str):
            self.problem(label, "description", "must be a string")
        tags = self.tags(merged.get("tags", []), label)
        if len(self.problems) > before:
            return None
        assert isinstance(name, str) and isinstance(schedule, str) and command is not None
        return JobSpec(
            name=name,
            schedule=schedule.strip(),
            command=command,
            database=database,
            username=username,
            active=bool(active),
            timeout=timeout,
            description=description,
            tags=tags,
        )

    def command(self, raw: dict[str, Any], label: str) -> str | None:
        command, sql_file = raw.get("command"), raw.get("sql_file")
        if command is not None and sql_file is not None:
            self.problem(label, "command", "give either 'command' or 'sql_file', not both")
            return None
        if command is None and sql_file is None:
            self.problem(label, "command", "missing: give the SQL in 'command' or a path in 'sql_file'")
            return None
        fld = "command"
        if sql_file is not None:
            fld = "sql_file"
            if not isinstance(sql_file, str) or not sql_file:
                self.problem(label, "sql_file", "must be a path relative to the jobs file")
                return None
            target = (self.base_dir or Path.cwd()) / sql_file
            try:
                command = target.read_text(encoding="utf-8")
            except OSError as exc:
                self.problem(label, "sql_file", f"cannot read {str(target)!r}: {exc.strerror or exc}")
                return None
        if not isinstance(command, str):
            self.problem(label, fld, "must be a string of SQL")
            return None
        command = command.strip()
        if not command:
            self.problem(
                label,
                fld,
                "is empty: pg_cron never finishes an empty command in "
                "background-worker mode; give at least one SQL statement",
            )
            return None
        error = check_command(command)
        if error:
            self.problem(label, fld, error)
            return None
        return command

    def optional_str(self, merged: dict[str, Any], key: str, label: str) -> str | None:
        value = merged.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            self.problem(label, key, f"must be a non-empty string, got {value!r}")
            return None
        return value

    def tags(self, value: Any, label: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.problem(label, "tags", 'must be a list of strings, e.g. tags = ["billing", "hourly"]')
            return ()
        tags: list[str] = []
        for tag in value:
            if not isinstance(tag, str) or not _TAG_RE.match(tag):
                self.problem(label, "tags", f"{tag!r} is not a valid tag: use letters, digits and _ . : / -")
            elif tag not in tags:
                tags.append(tag)
        return tuple(tags)

    def retention(self, value: Any) -> Retention | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem(None, "retention", 'must be a table/mapping such as [retention] keep = "7d"')
            return None
        before = len(self.problems)
        for key in sorted(set(value) - _RETENTION_KEYS):
            self.problem(
                None, f"retention.{key}", f"unknown key; allowed: {', '.join(sorted(_RETENTION_KEYS))}"
            )
        keep = timedelta(0)
        try:
            keep = parse_duration(value.get("keep"))
        except ValueError as exc:
            self.problem(None, "retention.keep", f"{exc} (how long to keep run history)")
        schedule = value.get("schedule", "17 * * * *")
        if not isinstance(schedule, str):
            self.problem(None, "retention.schedule", "must be a schedule string")
        else:
            error = check_schedule(schedule)
            if error:
                self.problem(None, "retention.schedule", error)
        batch = value.get("batch", 10_000)
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 1_000_000:
            self.problem(None, "retention.batch", f"must be an integer from 1 to 1000000, got {batch!r}")
        scope = value.get("scope", "namespace")
        if scope not in ("namespace", "all"):
            self.problem(None, "retention.scope", f"must be 'namespace' or 'all', got {scope!r}")
        username = self.optional_str(value, "username", "retention")
        database = self.optional_str(value, "database", "retention")
        if len(self.problems) > before:
            return None
        return Retention(keep, str(schedule).strip(), int(batch), str(scope), username, database)


def check_schedule(text: str) -> str | None:
    """The strict schedule checker's complaint about ``text``, or None when it is fine."""
    try:
        Schedule.parse(text)
    except ScheduleError as exc:
        return exc.message
    return None


def check_command(command: str) -> str | None:
    """Why pg_cron cannot run ``command`` safely (COPY to the client, empty, …), or None."""
    try:
        commands.check_command(command)
    except UnsupportedCommand as exc:
        return exc.message
    return None
