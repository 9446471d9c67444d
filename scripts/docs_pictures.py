"""Makes the pictures of docs/visualization.md (docs/pictures/) from examples/python/visualize_example.py.

    python scripts/docs_pictures.py           # rewrite them (a fresh run for the run report)
    python scripts/docs_pictures.py --check   # CI: fail if the committed pictures are stale

Each picture is committed as its DOT source and its SVG. --check rebuilds every DOT source (and the
run pictures, from the committed run_report.json) and compares them with the committed files, so it
does not depend on the Graphviz version; the SVGs are drawn from those same sources when rewriting.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "pictures"
sys.path.insert(0, str(ROOT / "examples" / "python"))

from hypernodes import RunReport
from visualize_example import make_pipeline, run_with_report


def pictures(report: RunReport) -> dict[str, object]:
    """name -> picture (a PipelineGraph or a Timeline)."""
    p = make_pipeline()
    return {
        "rag_depth_1": p.visualize(depth=1),
        "rag_depth_2": p.visualize(depth=2),
        "rag_depth_all": p.visualize(depth=None),
        "rag_separate_outputs": p.visualize(depth=None, separate_outputs=True, orient="LR"),
        "rag_dark": p.visualize(depth=2, theme="dark"),
        "run_picture": report.visualize(p, depth=None),
        "run_timeline": report.timeline(),
    }


def texts(report: RunReport) -> dict[str, str]:
    """file name -> the text that --check compares."""
    out = {}
    for name, pic in pictures(report).items():
        if name == "run_timeline":
            out[name + ".svg"] = pic.svg()
        else:
            out[name + ".dot"] = pic.source + "\n"
    return out


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        report = RunReport.from_json((OUT / "run_report.json").read_text())
        stale = [
            f
            for f, text in texts(report).items()
            if not (OUT / f).exists() or (OUT / f).read_text(encoding="utf-8") != text
        ]
        if stale:
            print(f"stale pictures in {OUT}: {stale}; run python scripts/docs_pictures.py")
            return 1
        print(f"docs pictures are current ({len(texts(report))} checked)")
        return 0
    if argv:
        print(__doc__)
        return 2
    if shutil.which("dot") is None:
        print("needs Graphviz's dot to draw the SVGs")
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    _, report = run_with_report()
    (OUT / "run_report.json").write_text(report.to_json() + "\n", encoding="utf-8")
    report = RunReport.from_json((OUT / "run_report.json").read_text())
    for f, text in texts(report).items():
        (OUT / f).write_text(text, encoding="utf-8")
    for name, pic in pictures(report).items():
        if name != "run_timeline":
            pic.save(OUT / f"{name}.svg")
    print(f"wrote {sorted(p.name for p in OUT.iterdir())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
