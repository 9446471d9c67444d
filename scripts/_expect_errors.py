"""Checks that a type checker reports exactly the lines of a file marked ``# expect-error``.

    python scripts/_expect_errors.py pyright|mypy FILE

Runs the checker on FILE and fails, listing them, if a marked line is not reported (a mistake the
checker no longer catches) or an unmarked line is (a false alarm).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path


def reported_lines(checker: str, path: Path) -> dict[int, list[str]]:
    bin_dir = Path(sys.executable).parent
    out: dict[int, list[str]] = {}
    if checker == "pyright":
        cmd = [str(bin_dir / "pyright"), "--pythonpath", sys.executable, "--outputjson", str(path)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        for d in json.loads(proc.stdout)["generalDiagnostics"]:
            if d["severity"] == "error":
                out.setdefault(d["range"]["start"]["line"] + 1, []).append(d["message"])
    else:
        cmd = [sys.executable, "-m", "mypy", "--no-error-summary", "--show-error-end", str(path)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        for line in proc.stdout.splitlines():
            m = re.match(rf"{re.escape(str(path))}:(\d+):\d+:\d+:\d+: error: (.*)", line)
            if m:
                out.setdefault(int(m.group(1)), []).append(m.group(2))
    return out


def main() -> int:
    checker, file = sys.argv[1], Path(sys.argv[2])
    marked = {
        i
        for i, line in enumerate(file.read_text().splitlines(), start=1)
        if "# expect-error" in line
    }
    got = reported_lines(checker, file)
    missed = sorted(marked - got.keys())
    extra = sorted(got.keys() - marked)
    for i in missed:
        print(f"{checker}: {file}:{i}: a deliberate mistake was not reported")
    for i in extra:
        print(f"{checker}: {file}:{i}: unexpected error: {' | '.join(got[i])}")
    if missed or extra:
        return 1
    print(f"{checker}: all {len(marked)} deliberate mistakes in {file} reported, nothing else")
    return 0


if __name__ == "__main__":
    sys.exit(main())
