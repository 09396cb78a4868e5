"""Jobs files: recurring pg_cron jobs declared as code, in TOML or YAML.

One file declares one *namespace* and the jobs it owns (docs/jobs-file.md, schema in
docs/jobs-file.schema.json, ownership rules in docs/adr/0004-jobs-namespace.md). This module only reads
and validates; ``pgcron.plan`` compares the result with the server. Every problem found is reported at
once, each naming the file, the job and the field, so one run of ``pgcron plan`` shows all of them.
"""

from __future__ import annotations

import logging
import math
import os
import re
import stat
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from pgcron import commands
from pgcron.errors import PgCronError, ScheduleError, UnsupportedCommand
from pgcron.lanes import MAX_WORKERS
from pgcron.models import JobSpec
from pgcron.schedule import Schedule

__all__ = [
    "MAX_TIMEOUT",
    "NAMESPACE_SEPARATOR",
    "RESERVED_NAMESPACES",
    "InvalidDuration",
    "JobsFile",
    "JobsFileError",
    "Lanes",
    "Problem",
    "Retention",
    "check_namespace",
    "format_duration",
    "load_jobs_file",
    "parse_duration",
    "parse_jobs_document",
    "parse_retention_keep",
    "parse_timeout",
    "qualified_name",
]

logger = logging.getLogger(__name__)

#: Owned job names are ``<namespace>:<name>`` (ADR 0004).
NAMESPACE_SEPARATOR = ":"
#: ``pgcron`` holds the engine's own jobs (``pgcron:maintenance``, ``pgcron:run:<id>``).
RESERVED_NAMESPACES = frozenset({"pgcron"})
#: The local name of the retention job a file's ``[retention]`` table installs.
RETENTION_JOB = "_retention"

# Always used with fullmatch(): '$' would also match before a trailing newline ("pgcron\n").
_NAMESPACE_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_JOB_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,62}")
_DURATION_RE = re.compile(r"(\d+)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_DURATION_FULL_RE = re.compile(r"\s*(?:\d{1,12}\s*(?:ms|s|m|h|d|w)\s*)+", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

#: The longest duration pgcron reads (100 years): longer ones overflow timestamps on the server.
MAX_DURATION = timedelta(days=36_525)
#: The engine refuses longer timeouts (ADR 0005: ``> 0`` and ``<= 31 days``).
MAX_TIMEOUT = timedelta(days=31)
#: A jobs file or ``sql_file`` larger than this is refused before it is parsed.
MAX_FILE_BYTES = 16 * 1024 * 1024

_TOP_KEYS = {"namespace", "version", "defaults", "jobs", "retention", "lanes"}
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
_LANE_KEYS = {"workers"}


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


class InvalidDuration(PgCronError, ValueError):
    """Not a duration pgcron reads: use e.g. '30s', '15m', '2h', '7d' or '1h30m' (units ms, s, m, h, d, w)."""


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
class Lanes:
    """The warm lane a jobs file's ``[lanes]`` table declares (docs/adr/0008-lanes-in-the-jobs-file.md).

    A lane belongs to the role that runs ``pgcron apply``, in the database it connects to: ``workers`` is how
    many lane workers that role keeps (0: none, the lane is stopped). A file without ``[lanes]`` leaves
    lanes alone.
    """

    workers: int


@dataclass(frozen=True, slots=True)
class JobsFile:
    """A validated jobs file. ``jobs`` carry local names; ``qualified_name`` adds the namespace."""

    path: str
    namespace: str
    jobs: tuple[JobSpec, ...]
    retention: Retention | None = None
    sources: Mapping[str, str] = field(default_factory=dict)  # local job name -> "jobs[i]" for messages
    lanes: Lanes | None = None

    @property
    def lane_workers(self) -> int | None:
        """``[lanes] workers`` for ``Client.plan``; ``None`` (no ``[lanes]``): lanes left alone."""
        return None if self.lanes is None else self.lanes.workers


def qualified_name(namespace: str, name: str) -> str:
    """``<namespace>:<name>``, the pg_cron job name of a declared job (idempotent)."""
    prefix = namespace + NAMESPACE_SEPARATOR
    return name if name.startswith(prefix) else prefix + name


def parse_duration(value: object) -> timedelta:
    """Read a duration: ``"7d"``, ``"1h30m"``, ``"90s"``, ``"250ms"`` or a number of seconds.

    Raises ``InvalidDuration`` (a ``PgCronError`` and ``ValueError``) with the accepted forms when ``value``
    is none of these, is not positive, is not finite or is longer than 100 years.
    """
    if isinstance(value, timedelta):
        seconds: float = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidDuration(f"a duration must be a finite number of seconds, got {value!r}")
        seconds = value
    elif isinstance(value, str) and _DURATION_FULL_RE.fullmatch(value):
        seconds = sum(int(n) * _UNITS[unit.lower()] for n, unit in _DURATION_RE.findall(value))
    else:
        raise InvalidDuration(
            f"expected a duration such as '30s', '15m', '2h', '7d' or '1h30m' "
            f"(units ms, s, m, h, d, w), got {value!r}"
        )
    if seconds <= 0:
        raise InvalidDuration(f"a duration must be positive, got {value!r}")
    if seconds > MAX_DURATION.total_seconds():
        raise InvalidDuration(f"a duration must be at most 100 years (36525d), got {value!r}")
    return timedelta(seconds=seconds)


def check_namespace(value: object) -> str | None:
    """Why ``value`` is not a namespace a jobs file may own, or None when it is fine."""
    if not isinstance(value, str) or not _NAMESPACE_RE.fullmatch(value):
        return (
            f"{value!r} is not a valid namespace: use 1-40 characters "
            "a-z, 0-9, '_' or '-', starting with a letter or digit (no ':')"
        )
    if value in RESERVED_NAMESPACES:
        return f"{value!r} is reserved for pgcron's own jobs; pick another name"
    return None


def parse_timeout(value: object) -> timedelta:
    """A job's ``timeout``: a duration above zero and at most 31 days (the engine's limit)."""
    timeout = parse_duration(value)
    if timeout > MAX_TIMEOUT:
        raise InvalidDuration(
            f"a timeout must be at most 31 days (31d), got {value!r}: the engine refuses longer ones; "
            "leave 'timeout' out for a job that may run without limit"
        )
    return timeout


def parse_retention_keep(value: object) -> timedelta:
    """``[retention] keep``: a whole number of seconds, at least one (the purge takes seconds)."""
    keep = parse_duration(value)
    if keep < timedelta(seconds=1) or keep.microseconds:
        raise InvalidDuration(
            f'keep must be a whole number of seconds, at least 1s, got {value!r} (e.g. keep = "7d")'
        )
    return keep


def _unknown(mapping: Mapping[Any, Any], allowed: set[str]) -> list[str]:
    """The keys of ``mapping`` that are not ``allowed``, as text, sorted (YAML keys may be any type)."""
    return sorted(str(key) for key in mapping if not (isinstance(key, str) and key in allowed))


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

    ``sql_file`` paths are relative to the jobs file and must stay inside its directory. Raises
    ``JobsFileError`` listing every problem.
    """
    file = Path(path)
    label = str(path)
    suffix = file.suffix.lower()
    if suffix == ".toml":
        fmt = "toml"
    elif suffix in (".yaml", ".yml"):
        fmt = "yaml"
    else:
        raise JobsFileError(
            [Problem(label, None, None, "unknown file type: name the file *.toml, *.yaml or *.yml")]
        )
    try:
        text = _read_text(file)
    except _Unreadable as exc:
        raise JobsFileError([Problem(label, None, None, exc.reason)]) from exc
    return parse_jobs_document(text, fmt=fmt, path=label, base_dir=file.parent)


class _Unreadable(Exception):
    """A file could not be read as UTF-8 text; ``reason`` says why without quoting its content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _read_text(file: Path) -> str:
    """A regular file's UTF-8 text (a leading BOM dropped), at most ``MAX_FILE_BYTES`` long."""
    try:
        with file.open("rb") as handle:
            info = _stat_regular(handle.fileno())
            if info is not None:
                raise _Unreadable(info)
            data = handle.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise _Unreadable(f"cannot read the file: {reason}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise _Unreadable(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _Unreadable(
            f"not valid UTF-8 at byte offset {exc.start} (line {line}): save the file as UTF-8"
        ) from exc
    return text.removeprefix("\ufeff")


def _stat_regular(fd: int) -> str | None:
    """Why the open file is not a regular file (a FIFO would block, a device never ends), or None."""
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode):
        return None
    return "cannot read the file: not a regular file"


def parse_jobs_document(
    text: str, *, fmt: str, path: str = "<jobs file>", base_dir: Path | None = None
) -> JobsFile:
    """Validate the text of a jobs file (``fmt`` is ``"toml"`` or ``"yaml"``).

    YAML is read with duplicate keys and aliases refused (``_JobsYamlLoader``).
    """
    try:
        if fmt == "toml":
            document: Any = tomllib.loads(text)
        elif fmt == "yaml":
            document = _load_yaml(text)
        else:
            raise JobsFileError([Problem(path, None, None, f"unknown format {fmt!r}: use 'toml' or 'yaml'")])
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise JobsFileError([Problem(path, None, None, f"not valid {fmt.upper()}: {exc}")]) from exc
    except RecursionError as exc:  # deeply nested [[[[…]]]] or {{{{…}}}}
        raise JobsFileError(
            [Problem(path, None, None, f"not valid {fmt.upper()}: nested too deeply")]
        ) from exc
    return _Validator(path, base_dir).document(document)


class _JobsYamlLoader(yaml.SafeLoader):
    """SafeLoader that refuses what makes a jobs file ambiguous or expensive to read.

    * A duplicate key in one mapping (PyYAML silently keeps the last one; TOML refuses it too).
    * Aliases (``*name``): a few hundred bytes of nested aliases expand into billions of nodes
      ("billion laughs"). A jobs file has no need for them; write the value out.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event: Any = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None,
                None,
                f"YAML aliases (*{event.anchor}) are not allowed in a jobs file: write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise yaml.constructor.ConstructorError(
                        None, None, "YAML merge keys (<<) are not allowed in a jobs file", key_node.start_mark
                    )
                key = self.construct_object(key_node, deep=deep)
                try:
                    duplicate = key in seen
                except TypeError:
                    continue  # unhashable: the base class reports it
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f"duplicate key {key!r}: each key may appear once in a mapping (the first is "
                        f"at line {seen[key].line + 1}); remove or rename one",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_JobsYamlLoader)  # a SafeLoader subclass


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
        for key in _unknown(doc, _TOP_KEYS):
            self.problem(None, str(key), f"unknown key; allowed: {', '.join(sorted(_TOP_KEYS))}")
        version = doc.get("version", 1)
        if version != 1 or isinstance(version, bool):
            self.problem(None, "version", f"unsupported version {version!r}; this pgcron reads version 1")
        namespace = self.namespace(doc.get("namespace"))
        defaults = self.defaults(doc.get("defaults", {}))
        jobs, sources = self.jobs(doc.get("jobs"), defaults)
        retention = self.retention(doc.get("retention"))
        lanes = self.lanes(doc.get("lanes"))
        if self.problems:
            raise JobsFileError(self.problems)
        return JobsFile(self.path, namespace, tuple(jobs), retention, sources, lanes)

    def namespace(self, value: Any) -> str:
        if value is None:
            self.problem(
                None,
                "namespace",
                'missing: every jobs file declares the namespace it owns, e.g. namespace = "billing"',
            )
            return ""
        error = check_namespace(value)
        if error is not None:
            self.problem(None, "namespace", error)
            return ""
        assert isinstance(value, str)
        return value

    def defaults(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.problem(None, "defaults", "must be a table/mapping")
            return {}
        for key in _unknown(value, _DEFAULT_KEYS):
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
        for key in _unknown(raw, _JOB_KEYS):
            self.problem(label, str(key), f"unknown key; allowed: {', '.join(sorted(_JOB_KEYS))}")
        merged = {**defaults, **raw}
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            self.problem(label, "name", "missing or not a string")
        elif name == RETENTION_JOB or not _JOB_NAME_RE.fullmatch(name):
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
                timeout = parse_timeout(merged["timeout"])
            except InvalidDuration as exc:
                self.problem(label, "timeout", exc.message)
        description = raw.get("description")
        if description is not None and (not isinstance(description, str) or "\x00" in description):
            self.problem(label, "description", "must be a string (without NUL characters)")
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
            command = self.read_sql_file(sql_file, label)
            if command is None:
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
        if "\x00" in command:
            self.problem(label, fld, "contains a NUL character, which PostgreSQL cannot store; remove it")
            return None
        try:
            commands.check_command(command)
        except UnsupportedCommand as exc:
            if fld == "sql_file" and "command_error" in exc.context:
                # The parser's message quotes the text near the error; a file's content is never echoed.
                where = getattr(exc.__cause__, "location", None)
                at = f" near character {where}" if isinstance(where, int) else ""
                self.problem(label, fld, f"the file is not valid SQL{at}; fix the statement in it")
            else:
                self.problem(label, fld, exc.message)
            return None
        return command

    def read_sql_file(self, sql_file: object, label: str) -> str | None:
        """The text of ``sql_file``, which must resolve to a regular file inside the jobs file's directory.

        Absolute paths, ``..`` that leaves the directory and symlinks that point outside it are refused, so
        a jobs file cannot make pgcron read (and schedule, or quote in an error) any other file.
        """
        hint = "give a path relative to the jobs file, inside its directory (e.g. sql/refresh.sql)"
        if not isinstance(sql_file, str) or not sql_file.strip():
            self.problem(label, "sql_file", f"must be a non-empty string: {hint}")
            return None
        if "\x00" in sql_file:
            self.problem(label, "sql_file", f"contains a NUL character: {hint}")
            return None
        relative = Path(sql_file)
        if relative.is_absolute() or relative.drive or sql_file.startswith("~"):
            self.problem(label, "sql_file", f"{sql_file!r} is an absolute path: {hint}")
            return None
        base = (self.base_dir or Path.cwd()).resolve()
        try:
            target = (base / relative).resolve(strict=True)
        except (OSError, RuntimeError) as exc:  # missing, a symlink loop
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "cannot resolve it"
            self.problem(label, "sql_file", f"cannot read {sql_file!r}: {reason}")
            return None
        if not target.is_relative_to(base):
            self.problem(
                label,
                "sql_file",
                f"{sql_file!r} points outside the jobs file's directory ({str(base)!r}), through '..' or a "
                f"symlink: {hint}",
            )
            return None
        try:
            return _read_text(target)
        except _Unreadable as exc:
            self.problem(label, "sql_file", f"{sql_file!r}: {exc.reason}")
            return None

    def optional_str(self, merged: dict[str, Any], key: str, label: str) -> str | None:
        value = merged.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            self.problem(label, key, f"must be a non-empty string, got {value!r}")
            return None
        if "\x00" in value:
            self.problem(label, key, "contains a NUL character, which PostgreSQL cannot store; remove it")
            return None
        return value

    def tags(self, value: Any, label: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.problem(label, "tags", 'must be a list of strings, e.g. tags = ["billing", "hourly"]')
            return ()
        tags: list[str] = []
        for tag in value:
            if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
                self.problem(label, "tags", f"{tag!r} is not a valid tag: use letters, digits and _ . : / -")
            elif tag not in tags:
                tags.append(tag)
        return tuple(tags)

    def table(
        self, value: Any, name: str, allowed: set[str], example: str, hint: str = ""
    ) -> dict[Any, Any] | None:
        """A top-level table such as ``[retention]``: ``value`` when it is one (its unknown keys reported),
        else None (a problem unless it is absent)."""
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem(None, name, f"must be a table/mapping such as [{name}] {example}")
            return None
        for key in _unknown(value, allowed):
            self.problem(None, f"{name}.{key}", f"unknown key; allowed: {', '.join(sorted(allowed))}{hint}")
        return value

    def retention(self, value: Any) -> Retention | None:
        before = len(self.problems)
        if self.table(value, "retention", _RETENTION_KEYS, 'keep = "7d"') is None:
            return None
        keep = timedelta(0)
        try:
            keep = parse_retention_keep(value.get("keep"))
        except InvalidDuration as exc:
            self.problem(None, "retention.keep", f"{exc.message} (how long to keep run history)")
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

    def lanes(self, value: Any) -> Lanes | None:
        hint = (
            " (a lane belongs to the role that runs `pgcron apply`, in the database it connects to: to give "
            "another role a lane, apply as that role)"
        )
        table = self.table(value, "lanes", _LANE_KEYS, "workers = 2", hint)
        if table is None:
            return None
        workers = table.get("workers")
        if workers is None:
            self.problem(
                None,
                "lanes.workers",
                "missing: give the number of lane workers, e.g. [lanes] workers = 2 (0 stops the lane; "
                "leave out [lanes] to leave lanes alone)",
            )
            return None
        if isinstance(workers, bool) or not isinstance(workers, int) or not 0 <= workers <= MAX_WORKERS:
            self.problem(
                None,
                "lanes.workers",
                f"must be an integer from 0 to {MAX_WORKERS}, got {workers!r} (0 stops the lane; each worker "
                "holds one of cron.max_running_jobs' slots for as long as it runs, so start few)",
            )
            return None
        return Lanes(workers)


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
