"""scripts/run_doc_blocks.py: it runs a page's blocks in one namespace and fails on a wrong result."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sys
from dataclasses import dataclass
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[2] / "scripts" / "run_doc_blocks.py"
_spec = importlib.util.spec_from_file_location("run_doc_blocks", RUNNER)
assert _spec is not None and _spec.loader is not None
runner = importlib.util.module_from_spec(_spec)
sys.modules["run_doc_blocks"] = runner  # its dataclass looks its module up
_spec.loader.exec_module(runner)


@dataclass
class Result:
    returncode: int
    stdout: str


def _run(tmp_path: Path, text: str) -> Result:
    page = tmp_path / "page.md"
    page.write_text(text)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = runner.main([str(page)])
    return Result(code, out.getvalue())


PAGE = """# A page

```python
x = 20 + 1
x * 2   # -> 42
print("hi", x)   # -> hi 21
```

Text between blocks.

```python
[x, x]
# -> [21, 21]
```

```python skip
this would not even parse
```
"""


def test_a_true_page_passes_and_a_skipped_block_is_not_run(tmp_path):
    proc = _run(tmp_path, PAGE)
    assert proc.returncode == 0, proc.stdout
    assert "2 passed, 0 failed, 1 skipped" in proc.stdout


def test_a_wrong_stated_result_fails_naming_the_line(tmp_path):
    proc = _run(tmp_path, PAGE.replace("# -> [21, 21]", "# -> [21, 22]"))
    assert proc.returncode == 1
    assert "page.md:12: gives [21, 21], the docs say [21, 22]" in proc.stdout


def test_wrong_printed_output_and_a_raising_block_fail(tmp_path):
    proc = _run(tmp_path, PAGE.replace("# -> hi 21", "# -> hello 21"))
    assert proc.returncode == 1
    assert "page.md:6: printed 'hi 21', the docs say 'hello 21'" in proc.stdout
    proc = _run(tmp_path, PAGE.replace("x = 20 + 1", "x = undefined_name"))
    assert proc.returncode == 1
    assert "NameError" in proc.stdout and "page.md:3: the block raised" in proc.stdout
