"""The engine's SQL: named queries and versioned migrations, read from package data.

Queries live in ``queries/*.sql``; each file holds several named queries, every one introduced by a
``-- name: <query_name>`` line (procrastinate's convention). A query whose first line after its name is
``-- extends: <other>`` is that other query followed by its own text (a WHERE / ORDER BY): one projection,
such as ``run_facts``, serves several queries, composed with ``psycopg.sql`` when the queries are loaded.
Parameters are psycopg placeholders (``%(name)s``) with explicit casts (``%(name)s::text``) so the same text
works on every pg_cron version.
Migrations are ``migrations/NNNN_<slug>.sql`` files, applied in number order by ``pgcron.schema``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

from psycopg import sql

__all__ = ["Migration", "get_query", "load_queries", "migrations"]

_NAME_RE = re.compile(r"^--\s*name:\s*(?P<name>[a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
_EXTENDS_RE = re.compile(r"\A--\s*extends:\s*(?P<base>[a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
_MIGRATION_RE = re.compile(r"^(?P<version>\d{4})_(?P<slug>[a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One forward-only migration file."""

    version: int
    name: str
    sql: str


def parse_queries(text: str, *, source: str = "<string>") -> dict[str, str]:
    """Split a file of ``-- name:`` sections into ``{name: sql}``."""
    matches = list(_NAME_RE.finditer(text))
    if not matches:
        raise ValueError(f"{source}: no '-- name: <query>' section found")
    queries: dict[str, str] = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        body = text[match.end() : end].strip()
        name = match.group("name")
        if name in queries:
            raise ValueError(f"{source}: query {name!r} is defined twice")
        if not body:
            raise ValueError(f"{source}: query {name!r} is empty")
        queries[name] = body
    return queries


@functools.cache
def load_queries() -> dict[str, str]:
    """All named queries of the package, loaded once."""
    queries: dict[str, str] = {}
    folder = resources.files(__name__).joinpath("queries")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        for name, body in parse_queries(entry.read_text(encoding="utf-8"), source=entry.name).items():
            if name in queries:
                raise ValueError(f"{entry.name}: query {name!r} is already defined in another file")
            queries[name] = body
    return {name: _extended(name, queries) for name in queries}


def _extended(name: str, queries: dict[str, str], seen: tuple[str, ...] = ()) -> str:
    """The text of query ``name``, with the query it extends (``-- extends: <base>``) in front."""
    body = queries[name]
    match = _EXTENDS_RE.match(body)
    if match is None:
        return body
    base = match.group("base")
    if base not in queries:
        raise ValueError(f"query {name!r} extends {base!r}, which is not defined")
    if base == name or base in seen:
        raise ValueError(f"query {name!r} extends itself through {' -> '.join((*seen, name, base))}")
    head = _extended(base, queries, (*seen, name))
    return sql.SQL("\n").join([sql.SQL(head), sql.SQL(body)]).as_string(None)


def get_query(name: str) -> str:
    """The SQL text of one named query; ``KeyError`` names the known queries when it is missing."""
    queries = load_queries()
    try:
        return queries[name]
    except KeyError:
        raise KeyError(f"no query named {name!r}; known: {', '.join(sorted(queries))}") from None


def migrations() -> list[Migration]:
    """Every ``NNNN_*.sql`` migration shipped with the package, in version order."""
    found: list[Migration] = []
    folder = resources.files(__name__).joinpath("migrations")
    for entry in folder.iterdir():
        match = _MIGRATION_RE.match(entry.name)
        if match is None:
            continue
        found.append(
            Migration(
                version=int(match.group("version")),
                name=entry.name[: -len(".sql")],
                sql=entry.read_text(encoding="utf-8"),
            )
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations share a version number: {[m.name for m in found]}")
    return found
