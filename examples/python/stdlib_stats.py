"""The main example: measure the Python standard library with a nested map.

Three pipelines, each nested in the next:

- ``per_file`` handles ONE source file: read it, parse it (``ast``), measure it.
- ``per_module`` handles ONE top-level module or package of the standard library: find its ``.py``
  files, map ``per_file`` over them, and sum them up.
- ``stdlib_stats`` maps ``per_module`` over a list of modules and aggregates: totals, the largest
  files, and the modules imported most often.

Every function handles a single item; the mapping and the wiring (by parameter and output names) are
HyperNodes'. Run it with no arguments (a fixed set of modules, a few seconds), or::

    python examples/python/stdlib_stats.py --all            # every module except the test suites
    python examples/python/stdlib_stats.py json email http  # just these
"""

from __future__ import annotations

import argparse
import ast
import os
import sysconfig
import time
import tokenize
from collections import Counter
from dataclasses import dataclass, field

from hypernodes import Pipeline, node

# A bounded, varied default: big and small packages and single-file modules.
DEFAULT_MODULES = (
    "argparse",
    "asyncio",
    "collections",
    "concurrent",
    "dataclasses",
    "email",
    "functools",
    "http",
    "importlib",
    "inspect",
    "json",
    "logging",
    "multiprocessing",
    "pathlib",
    "subprocess",
    "tarfile",
    "typing",
    "unittest",
    "urllib",
    "xml",
    "zipfile",
)
# Left out of --all: the test suites (thousands of files) and modules that are not the library.
SKIPPED = {"test", "tests", "idlelib", "lib2to3", "turtledemo", "site-packages", "__pycache__"}


@dataclass
class FileStats:
    path: str
    lines: int
    functions: int
    classes: int
    imports: list[str] = field(default_factory=list)


@dataclass
class ModuleStats:
    module: str
    files: list[FileStats]

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)


# --- per file: read -> parse -> measure ------------------------------------------------------


@node(output_name="source")
def read_source(path: str) -> str:
    with tokenize.open(path) as f:  # honours the file's encoding declaration
        return f.read()


@node(output_name="tree")
def parse(source: str, path: str) -> ast.Module:
    return ast.parse(source, filename=path)


@node(output_name="stats")
def measure(tree: ast.Module, source: str, path: str) -> FileStats:
    functions = classes = 0
    imports: list[str] = []
    for n in ast.walk(tree):
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef):
            functions += 1
        elif isinstance(n, ast.ClassDef):
            classes += 1
        elif isinstance(n, ast.Import):
            imports.extend(alias.name.split(".")[0] for alias in n.names)
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
            imports.append(n.module.split(".")[0])
    return FileStats(path, source.count("\n") + 1, functions, classes, sorted(set(imports)))


per_file = Pipeline(nodes=[read_source, parse, measure], name="per_file")


# --- per module: find files -> map per_file over them -> summarize ---------------------------


@node(output_name="paths")
def find_files(module: str, stdlib_dir: str) -> list[str]:
    package = os.path.join(stdlib_dir, module)
    if os.path.isdir(package):
        found: list[str] = []
        for root, dirs, files in os.walk(package):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED)
            found.extend(os.path.join(root, f) for f in sorted(files) if f.endswith(".py"))
        return found
    single = package + ".py"
    return [single] if os.path.isfile(single) else []


@node(output_name="module_stats")
def summarize(module: str, file_stats: list[FileStats]) -> ModuleStats:
    return ModuleStats(module, file_stats)


per_module = Pipeline(
    nodes=[
        find_files,
        per_file.as_node(
            name="measure_files",
            input_mapping={"paths": "path"},  # {outer: inner}
            output_mapping={"stats": "file_stats"},  # {inner: outer}; only this is computed
            map_over="paths",
        ),
        summarize,
    ],
    name="per_module",
)


# --- whole run: map per_module over the modules -> aggregate ---------------------------------


@node(output_name="totals")
def totals(all_modules: list[ModuleStats]) -> dict[str, int]:
    files = [f for m in all_modules for f in m.files]
    return {
        "modules": sum(1 for m in all_modules if m.files),
        "files": len(files),
        "lines": sum(f.lines for f in files),
        "functions": sum(f.functions for f in files),
        "classes": sum(f.classes for f in files),
    }


@node(output_name="largest_files")
def largest_files(all_modules: list[ModuleStats], stdlib_dir: str, top: int = 5) -> list[tuple]:
    files = sorted((f for m in all_modules for f in m.files), key=lambda f: -f.lines)
    return [(os.path.relpath(f.path, stdlib_dir), f.lines) for f in files[:top]]


@node(output_name="largest_modules")
def largest_modules(all_modules: list[ModuleStats], top: int = 5) -> list[tuple]:
    ranked = sorted(all_modules, key=lambda m: -m.lines)
    return [(m.module, len(m.files), m.lines) for m in ranked[:top]]


@node(output_name="most_imported")
def most_imported(all_modules: list[ModuleStats], top: int = 5) -> list[tuple]:
    counts = Counter(name for m in all_modules for f in m.files for name in f.imports)
    return counts.most_common(top)


stdlib_stats = Pipeline(
    nodes=[
        per_module.as_node(
            name="measure_modules",
            input_mapping={"modules": "module"},
            output_mapping={"module_stats": "all_modules"},
            map_over="modules",  # stdlib_dir is not mapped: it is broadcast to every item
        ),
        totals,
        largest_files,
        largest_modules,
        most_imported,
    ],
    name="stdlib_stats",
)


def all_modules_in(stdlib_dir: str) -> list[str]:
    names = set()
    for entry in os.listdir(stdlib_dir):
        full = os.path.join(stdlib_dir, entry)
        if entry in SKIPPED or entry.startswith(".") or "-" in entry:
            continue
        if os.path.isdir(full) and os.path.isfile(os.path.join(full, "__init__.py")):
            names.add(entry)
        elif entry.endswith(".py"):
            names.add(entry[:-3])
    return sorted(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"default: {len(DEFAULT_MODULES)} modules")
    parser.add_argument("--all", action="store_true", help="every module but the test suites")
    parser.add_argument("--top", type=int, default=5, help="length of the rankings")
    args = parser.parse_args()

    stdlib_dir = sysconfig.get_paths()["stdlib"]
    modules = all_modules_in(stdlib_dir) if args.all else (args.modules or list(DEFAULT_MODULES))

    start = time.perf_counter()
    out = stdlib_stats.run(inputs={"modules": modules, "stdlib_dir": stdlib_dir, "top": args.top})
    elapsed = time.perf_counter() - start

    t = out["totals"]
    print(f"Python standard library at {stdlib_dir}")
    print(
        f"{t['modules']} modules, {t['files']} files, {t['lines']:,} lines, "
        f"{t['functions']:,} functions, {t['classes']:,} classes ({elapsed:.2f} s)"
    )
    print("\nLargest modules (files, lines):")
    for name, files, lines in out["largest_modules"]:
        print(f"  {name:<24} {files:>4} {lines:>8,}")
    print("\nLargest files (lines):")
    for path, lines in out["largest_files"]:
        print(f"  {path:<40} {lines:>8,}")
    print("\nMost imported modules (files importing them):")
    for name, count in out["most_imported"]:
        print(f"  {name:<24} {count:>4}")


if __name__ == "__main__":
    main()
