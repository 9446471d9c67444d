"""Runs every Python code block of README.md and docs/**/*.md, so that the docs cannot drift.

    python scripts/run_doc_blocks.py [FILE.md ...]

The blocks of one page run in order in one namespace (a block continues from the previous one of
the same page), in a temporary working directory. Where a block states a result, it is compared:
an expression statement followed by a ``# -> EXPECTED`` comment (on its last line, or alone on the
next line) must evaluate to EXPECTED (a Python literal compared by ``==``, else compared with the
value's ``repr``); for a ``print(...)`` call, EXPECTED is what it prints. A block fenced as ```` ```python skip ```` is not run (say why in the
text: it needs a service, an account or a cluster). Exits non-zero listing every failing block.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^(\s*)```(\S*)\s*(.*)$")
EXPECT = re.compile(r"#\s*->\s*(.*?)\s*$")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    code: str
    skip: bool


def blocks(path: Path) -> list[Block]:
    """The Python blocks of a Markdown file, in order."""
    out: list[Block] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang, rest = m.groups()
        start = i
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith("```"):
            body.append(lines[i].removeprefix(indent))
            i += 1
        i += 1
        if lang == "python":
            out.append(Block(path, start + 1, "\n".join(body) + "\n", "skip" in rest.split()))
    return out


def _expectations(code: str) -> dict[int, str]:
    """Line number (1-based, in the block) -> the expected text of its ``# ->`` comment. A comment
    line of its own states the result of the statement that ends on the line before it."""
    found = {}
    for n, line in enumerate(code.splitlines(), start=1):
        m = EXPECT.search(line)
        if m:
            found[n - 1 if line.lstrip().startswith("#") else n] = m.group(1)
    return found


def _matches(value: object, expected: str) -> bool:
    try:
        literal = ast.literal_eval(expected)
    except (ValueError, SyntaxError):
        return repr(value) == expected
    return value == literal


def run_block(block: Block, ns: dict) -> str | None:
    """Runs one block in `ns`; returns a failure message, or None."""
    tree = ast.parse(block.code, filename=str(block.path))
    ast.increment_lineno(tree, block.line)  # tracebacks and messages name the Markdown line
    expected = {n + block.line: e for n, e in _expectations(block.code).items()}
    for stmt in tree.body:
        want = expected.get(stmt.end_lineno or stmt.lineno)
        is_expr = isinstance(stmt, ast.Expr)
        if want is not None and is_expr:
            is_print = (
                isinstance(stmt.value, ast.Call)
                and isinstance(stmt.value.func, ast.Name)
                and stmt.value.func.id == "print"
            )
            code = compile(ast.Expression(stmt.value), str(block.path), "eval")
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                value = eval(code, ns)
            if is_print:
                sys.stdout.write(buf.getvalue())
                got = buf.getvalue().rstrip("\n")
                if got != want:
                    return _where(block, stmt, f"printed {got!r}, the docs say {want!r}")
            elif not _matches(value, want):
                return _where(block, stmt, f"gives {value!r}, the docs say {want}")
        else:
            if want is not None:
                return _where(block, stmt, "a '# ->' result stated on a line that is no expression")
            mod = ast.Module(body=[stmt], type_ignores=[])
            exec(compile(mod, str(block.path), "exec"), ns)  # noqa: S102 - the docs' own code
    return None


def _rel(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _where(block: Block, stmt: ast.stmt, msg: str) -> str:
    return f"{_rel(block.path)}:{stmt.lineno}: {msg}"


def run_page(path: Path) -> tuple[int, int, list[str]]:
    """Runs a page's blocks; returns (run, skipped, failures)."""
    ns: dict = {"__name__": f"docs.{path.stem}"}
    ran = skipped = 0
    failures: list[str] = []
    for block in blocks(path):
        if block.skip:
            skipped += 1
            continue
        ran += 1
        try:
            failure = run_block(block, ns)
        except BaseException:  # noqa: BLE001 - a failing block is reported, the rest go on
            tb = traceback.format_exc(limit=-3)
            failure = f"{_rel(block.path)}:{block.line}: the block raised\n{tb}"
        if failure:
            failures.append(failure)
            break  # later blocks of the page build on this one
    return ran, skipped, failures


def main(argv: list[str]) -> int:
    pages = [Path(a).resolve() for a in argv] or [
        ROOT / "README.md",
        *sorted((ROOT / "docs").rglob("*.md")),
    ]
    total_run = total_skipped = 0
    failures: list[str] = []
    for page in pages:
        with tempfile.TemporaryDirectory() as tmp:
            old = os.getcwd()
            os.chdir(tmp)
            try:
                ran, skipped, fails = run_page(page)
            finally:
                os.chdir(old)
        total_run += ran
        total_skipped += skipped
        failures += fails
        status = "FAILED" if fails else "ok"
        print(f"{_rel(page)}: {ran} blocks run, {skipped} skipped: {status}")
    for f in failures:
        print(f"\n{f}")
    passed = total_run - len(failures)
    print(f"\n{passed} passed, {len(failures)} failed, {total_skipped} skipped")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
