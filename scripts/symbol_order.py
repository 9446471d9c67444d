"""Writes crates/hypernodes-python/symbol-order.txt: the extension's functions that a fresh process
runs from ``import hypernodes`` to the end of the restart benchmark's first run (declaring a
10-node chain, building it, running it against a warm DiskCache), which the build places next to
each other (see crates/hypernodes-python/build.rs).

    .venv/bin/python scripts/symbol_order.py            # write the list
    .venv/bin/python scripts/symbol_order.py --check    # is the list current for this build?

``--check`` (run by scripts/test.sh) fails when fewer than 90% of the listed names are in the
installed extension, i.e. when code changes made the list stale; it needs only ``nm``. Writing
needs valgrind (callgrind) and the extension built in release mode in this interpreter's
environment (``maturin develop --release``). Run it again after large changes to the code a
restart runs; a stale list only loses some of the gain (names the build lacks are skipped).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates" / "hypernodes-python" / "symbol-order.txt"
sys.path.insert(0, str(ROOT / "benches" / "python"))

import bench_restart


def executed_functions(callgrind_out: Path, library: str) -> list[str]:
    """The (mangled) names of the functions of `library` that ran, in the profile's order."""
    objects: dict[str, str] = {}
    functions: dict[str, str] = {}
    current = None
    seen: set[str] = set()
    order: list[str] = []
    for line in callgrind_out.read_text().splitlines():
        m = re.match(r"(c?ob)=\((\d+)\)(?: (.*))?$", line)
        if m:
            if m.group(3):
                objects[m.group(2)] = m.group(3)
            if m.group(1) == "ob":
                current = objects.get(m.group(2))
            continue
        m = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?$", line)
        if m:
            if m.group(3):
                functions[m.group(2)] = m.group(3)
            name = functions.get(m.group(2))
            if (
                m.group(1) == "fn"
                and current is not None
                and current.endswith(library)
                and name
                and not name.startswith("0x")
                and name not in seen
            ):
                seen.add(name)
                order.append(name)
    return order


def check() -> int:
    """Exit status 1 when the list is stale for the installed release build."""
    import platform

    if sys.platform != "linux" or platform.machine() != "x86_64" or shutil.which("nm") is None:
        print("symbol order check skipped: the list is used on x86_64 Linux only (and needs nm)")
        return 0
    import hypernodes._core as core

    out = subprocess.run(
        ["nm", "--defined-only", core.__file__], check=True, capture_output=True, text=True
    )
    built = {parts[-1] for parts in map(str.split, out.stdout.splitlines()) if parts}
    listed = OUT.read_text().split()
    found = sum(name in built for name in listed)
    print(f"{OUT.relative_to(ROOT)}: {found} of {len(listed)} names are in {core.__file__}")
    if found < 0.9 * len(listed):
        print(
            "stale: run `scripts/symbol_order.py` after `maturin develop --release`, then rebuild"
        )
        return 1
    return 0


def main() -> None:
    if sys.argv[1:] == ["--check"]:
        sys.exit(check())
    if shutil.which("valgrind") is None:
        sys.exit("error: needs valgrind (callgrind)")
    with tempfile.TemporaryDirectory(prefix="hn-order-") as tmp:
        work = Path(tmp)
        (work / "restart_chain.py").write_text(bench_restart._module_source())
        args = [sys.executable, "-c", bench_restart._CHILD, "ours", str(work / "cache"), str(work)]
        subprocess.run(args, check=True, capture_output=True)  # fills the cache
        profile = work / "callgrind.out"
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--demangle=no",
                f"--callgrind-out-file={profile}",
                *args,
            ],
            check=True,
            capture_output=True,
        )
        names = executed_functions(profile, "_core.abi3.so")
    if not names:
        sys.exit("error: no function of hypernodes/_core.abi3.so in the profile")
    OUT.write_text("\n".join(names) + "\n")
    print(f"wrote {len(names)} names to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
