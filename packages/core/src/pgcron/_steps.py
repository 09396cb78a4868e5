"""Sans-I/O routines: a routine of several named queries written once, driven by either client.

A routine is a generator that yields ``(query_name, params)`` steps, receives each step's rows and returns its
result (``Steps[T]``). ``run_steps`` drives it with a synchronous ``fetch`` (``Database.fetch_all``),
``run_steps_async`` with an async one (``AsyncDatabase.fetch_all``); ``drive`` picks the one that fits, so the
async client's source and its generated sync twin read the same (``await drive(...)`` / ``drive(...)``).
plan/apply, the audit, history maintenance and doctor are such routines (``pgcron.plan``, ``pgcron.audit``,
``pgcron.history``, ``pgcron.doctor``): their logic has no I/O, and the one database seam runs their queries.

A routine that must run a statement composed with identifiers (``GRANT … TO <role>``) yields
``statement(composed)``; the driver runs it with its ``execute`` (``AsyncDatabase.execute_composed``) and
sends back no rows.

A step that fails is thrown into the routine (``generator.throw``), so it can name what failed or carry on.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any, TypeVar, cast, overload

import psycopg
from psycopg import sql

from pgcron.errors import PgCronError

__all__ = [
    "COMPOSED",
    "AsyncExecute",
    "AsyncFetch",
    "Execute",
    "Fetch",
    "Step",
    "Steps",
    "drive",
    "pinned",
    "run_steps",
    "run_steps_async",
    "statement",
    "step",
]

T = TypeVar("T")
#: One named query (``pgcron/sql/queries/*.sql``) and its parameters.
Step = tuple[str, dict[str, Any]]
#: A sans-I/O routine: yields steps, receives each step's rows, returns its result.
Steps = Generator[Step, list[dict[str, Any]], T]
Fetch = Callable[[str, dict[str, Any]], list[dict[str, Any]]]
AsyncFetch = Callable[[str, dict[str, Any]], Awaitable[list[dict[str, Any]]]]
Execute = Callable[[sql.Composed], None]
AsyncExecute = Callable[[sql.Composed], Awaitable[None]]
#: The name of a ``statement(...)`` step: its params hold the composed statement under ``"statement"``.
COMPOSED = "<composed statement>"


def step(query: str, params: Mapping[str, Any] | None = None) -> Step:
    """The step that runs the named ``query`` with ``params``."""
    return query, dict(params or {})


def statement(composed: sql.Composed) -> Step:
    """The step that runs ``composed`` (identifiers through ``psycopg.sql``, never f-strings); no rows."""
    return COMPOSED, {"statement": composed}


def _no_execute(composed: sql.Composed) -> None:
    raise TypeError("this routine runs a composed statement: drive it with execute=...")


def run_steps(steps: Steps[T], fetch: Fetch, execute: Execute = _no_execute) -> T:
    """Drive a routine with a synchronous ``fetch(query_name, params) -> rows`` (and ``execute(composed)``
    for its ``statement`` steps)."""
    try:
        current = next(steps)
        while True:
            try:
                if current[0] == COMPOSED:
                    execute(current[1]["statement"])
                    rows: list[dict[str, Any]] = []
                else:
                    rows = fetch(*current)
            except (psycopg.Error, PgCronError) as exc:  # the routine may name it; if not, this re-raises
                current = steps.throw(exc)
            else:
                current = steps.send(rows)
    except StopIteration as done:
        return cast(T, done.value)


async def _no_execute_async(composed: sql.Composed) -> None:
    _no_execute(composed)


async def run_steps_async(steps: Steps[T], fetch: AsyncFetch, execute: AsyncExecute = _no_execute_async) -> T:
    """Drive a routine with an async ``fetch`` (``AsyncDatabase.fetch_all``) and ``execute``
    (``AsyncDatabase.execute_composed``)."""
    try:
        current = next(steps)
        while True:
            try:
                if current[0] == COMPOSED:
                    await execute(current[1]["statement"])
                    rows: list[dict[str, Any]] = []
                else:
                    rows = await fetch(*current)
            except (psycopg.Error, PgCronError) as exc:  # the routine may name it; if not, this re-raises
                current = steps.throw(exc)
            else:
                current = steps.send(rows)
    except StopIteration as done:
        return cast(T, done.value)


@overload
def drive(steps: Steps[T], fetch: AsyncFetch, execute: AsyncExecute | None = None) -> Awaitable[T]: ...
@overload
def drive(steps: Steps[T], fetch: Fetch, execute: Execute | None = None) -> T: ...
def drive(
    steps: Steps[T], fetch: Fetch | AsyncFetch, execute: Execute | AsyncExecute | None = None
) -> T | Awaitable[T]:
    """``run_steps`` for a synchronous ``fetch``, an awaitable ``run_steps_async`` for an async one."""
    if inspect.iscoroutinefunction(fetch):
        run_async = cast(AsyncExecute, execute or _no_execute_async)
        return run_steps_async(steps, cast(AsyncFetch, fetch), run_async)
    return run_steps(steps, cast(Fetch, fetch), cast(Execute, execute or _no_execute))


def pinned(routine: Steps[T]) -> Steps[T]:
    """``routine`` with the session's ``search_path`` pinned to ``pg_catalog, pg_temp``, put back after.

    Privileged routines (purge, index creation, doctor) are often run by a superuser whose search_path holds a
    schema another role may write; a function there with an exact argument type beats the polymorphic
    built-in and would run with the superuser's rights (``pgcron._search_path``). The setting is
    session-level, so it outlives each autocommit statement; the caller's value comes back even when the
    routine fails (unless the connection is gone, and the setting with it).
    """
    previous = str((yield step("search_path_current"))[0]["search_path"])
    yield step("search_path_pin")
    try:
        result = yield from routine
    except GeneratorExit:
        raise
    except BaseException:
        # When the connection failed, the restore fails too: the error that matters is the routine's.
        with contextlib.suppress(psycopg.Error, PgCronError):
            yield step("search_path_restore", {"search_path": previous})
        raise
    yield step("search_path_restore", {"search_path": previous})
    return result
