"""Generate the synchronous twins of pgcron's async modules (psycopg's approach, with the stdlib ``ast``).

    python tools/async_to_sync.py           # rewrite the generated files
    python tools/async_to_sync.py --check   # exit 1 when a generated file is out of date

The transformation is mechanical: ``async def`` → ``def``, ``await x`` → ``x``, ``async with``/``async for``
→ ``with``/``for``, and the names in ``RENAMES``. Comments are not carried over (``ast`` drops them);
docstrings are, with the same renames. The output is formatted with ruff so it reads like hand-written code.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "packages" / "core" / "src" / "pgcron"

# (async source, generated sync file)
FILES = [
    (SRC / "_shared_async.py", SRC / "_shared.py"),
    (SRC / "_db_async.py", SRC / "_db.py"),
    (SRC / "pushdown" / "service.py", SRC / "pushdown" / "service_sync.py"),
    (SRC / "client_async.py", SRC / "client.py"),
    (SRC / "protocols_async.py", SRC / "protocols.py"),
]

RENAMES = {
    "AsyncClient": "Client",
    "AsyncClientProtocol": "ClientProtocol",
    "AsyncFakeClient": "FakeClient",
    "AsyncDatabase": "Database",
    "AsyncConnection": "Connection",
    "AsyncConnectionPool": "ConnectionPool",
    "AsyncPushdown": "Pushdown",
    "AsyncWaiterHub": "WaiterHub",
    "AsyncSharedTarget": "SharedTarget",
    "acquire_async_target": "acquire_target",
    "async_scope": "sync_scope",
    "_shared_async": "_shared",
    "AsyncIterator": "Iterator",
    "AsyncGenerator": "Generator",
    "asynccontextmanager": "contextmanager",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "aclose": "close",
    "_db_async": "_db",
    "client_async": "client",
    "protocols_async": "protocols",
    "asyncio": "threading",  # asyncio.Lock -> threading.Lock; the async sources use nothing else of asyncio
}
# In docstrings and messages "asyncio" means the flavour of the API, not the module.
_TEXT_RENAMES = {**RENAMES, "asyncio": "synchronous"}
_WORD_RE = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, _TEXT_RENAMES), key=len, reverse=True)) + r")\b"
)


def _rename(text: str) -> str:
    text = _WORD_RE.sub(lambda m: _TEXT_RENAMES[m.group(1)], text)
    return text.replace("await ", "").replace("async with", "with")


class _AsyncToSync(ast.NodeTransformer):
    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        self.generic_visit(node)
        new = ast.FunctionDef(**{f: getattr(node, f) for f in node._fields})  # type: ignore[arg-type]
        new.name = RENAMES.get(new.name, new.name)
        return ast.copy_location(new, node)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> ast.AST:
        self.generic_visit(node)
        return ast.copy_location(ast.With(**{f: getattr(node, f) for f in node._fields}), node)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> ast.AST:
        self.generic_visit(node)
        return ast.copy_location(ast.For(**{f: getattr(node, f) for f in node._fields}), node)

    def visit_Await(self, node: ast.Await) -> ast.AST:
        return self.visit(node.value)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = RENAMES.get(node.id, node.id)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        node.attr = RENAMES.get(node.attr, node.attr)
        return node

    def visit_alias(self, node: ast.alias) -> ast.AST:
        node.name = RENAMES.get(node.name, node.name)
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        self.generic_visit(node)
        if node.module:
            node.module = ".".join(RENAMES.get(part, part) for part in node.module.split("."))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self.generic_visit(node)
        node.name = RENAMES.get(node.name, node.name)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.generic_visit(node)
        node.name = RENAMES.get(node.name, node.name)
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        # Docstrings and messages, and string annotations such as "AsyncClient".
        if isinstance(node.value, str):
            node.value = _rename(node.value)
        return node


def convert(source: str, *, source_name: str, target: Path) -> str:
    """The sync module generated from an async module's source text."""
    tree = _AsyncToSync().visit(ast.parse(source))
    ast.fix_missing_locations(tree)
    header = (
        f"# WARNING: generated from {source_name} by tools/async_to_sync.py; edit that file instead.\n"
        "# ruff: noqa\n"  # generated: ast.unparse joins implicitly concatenated strings into long lines
    )
    return _format(header + ast.unparse(tree) + "\n", target)


def _ruff(args: list[str], code: str, filename: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--stdin-filename", str(filename), "-"],
        input=code,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"ruff {args[0]} failed on generated code:\n{result.stderr}")
    return result.stdout


def _format(code: str, filename: Path) -> str:
    # Sort the imports (ast drops the blank lines between groups), then format, as ruff sees the target.
    code = _ruff(["check", "--select", "I", "--fix", "--exit-zero", "--quiet"], code, filename)
    return _ruff(["format"], code, filename)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a generated file is out of date")
    args = parser.parse_args(argv)
    stale = 0
    for source, target in FILES:
        generated = convert(source.read_text(encoding="utf-8"), source_name=source.name, target=target)
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if generated == current:
            continue
        if args.check:
            stale += 1
            sys.stdout.writelines(
                difflib.unified_diff(
                    current.splitlines(True), generated.splitlines(True), str(target), "generated"
                )
            )
        else:
            target.write_text(generated, encoding="utf-8")
            print(f"wrote {target.relative_to(ROOT)}")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
