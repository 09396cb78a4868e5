"""Sans-I/O routines: a routine of several named queries written once, driven by either client.

A routine is a generator that yields ``(query_name, params)`` steps, receives each step's rows and returns its
result (``Steps[T]``). ``run_steps`` drives it with a synchronous ``fetch`` (``Database.fetch_all``),
``run_steps_async`` with an async one (``AsyncDatabase.fetch_all``); ``drive`` picks the one that fits, so the
async client's source and its generated sync twin read the same (``await drive(...)`` / ``drive(...)``).
plan/apply, the audit, history maintenance and doctor are such routines (``pgcron.plan``, ``pgcron.audit``,
``pgcron.history``, ``pgcron.doctor``): their logic has no I/O, and the one database seam runs their queries.

A step that fails is thrown into the routine (``generator.throw``), so it can name what failed or carry on.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any, TypeVar, cast, overload

import psycopg

from pgcron.errors import PgCronError

__all__ = ["AsyncFetch", "Fetch", "Step", "Steps", "drive", "pinned", "run_steps", "run_steps_async", "step"]

T = TypeVar("T")
#: One named query (``pgcron/sql/queries/*.sql``) and its parameters.
Step = tuple[str, dict[str, Any]]
#: A sans-I/O routine: yields steps, receives each step's rows, returns its result.
Steps = Generator[Step, list[dict[str, Any]], T]
Fetch = Callable[[str, dict[str, Any]], list[dict[str, Any]]]
AsyncFetch = Callable[[str, dict[str, Any]], Awaitable[list[dict[str, Any]]]]


def step(query: str, params: Mapping[str, Any] | None = None) -> Step:
    """The step that runs the named ``query`` with ``params``."""
    return query, dict(params or {})


def run_steps(steps: Steps[T], fetch: Fetch) -> T:
    """Drive a routine with a synchronous ``fetch(query_name, params) -> rows``."""
    try:
        current = next(steps)
        while True:
            try:
                rows = fetch(*current)
            except (psycopg.Error, PgCronError) as exc:  # the routine may name it; if not, this re-raises
                current = steps.throw(exc)
            else:
                current = steps.send(rows)
    except StopIteration as done:
        return cast(T, done.value)


async def run_steps_async(steps: Steps[T], fetch: AsyncFetch) -> T:
    """Drive a routine with an async ``fetch`` (``AsyncDatabase.fetch_all``)."""
    try:
        current = next(steps)
        while True:
            try:
                rows = await fetch(*current)
            except (psycopg.Error, PgCronError) as exc:  # the routine may name it; if not, this re-raises
                current = steps.throw(exc)
            else:
                current = steps.send(rows)
    except StopIteration as done:
        return cast(T, done.value)


@overload
def drive(steps: Steps[T], fetch: AsyncFetch) -> Awaitable[T]: ...
@overload
def drive(steps: Steps[T], fetch: Fetch) -> T: ...
def drive(steps: Steps[T], fetch: Fetch | AsyncFetch) -> T | Awaitable[T]:
    """``run_steps`` for a synchronous ``fetch``, an awaitable ``run_steps_async`` for an async one."""
    if inspect.iscoroutinefunction(fetch):
        return run_steps_async(steps, cast(AsyncFetch, fetch))
    return run_steps(steps, cast(Fetch, fetch))


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
