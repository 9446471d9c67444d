"""Measures pipefunc and prints the result as JSON. Runs inside benches/.peer-venv.

- run: ``pipeline.run(last, kwargs={"x0": ...}, full_output=True)``, which like our ``run`` computes
  and returns every output of the chain.
- map: every function carries ``mapspec="x{i}[i] -> x{i+1}[i]"``; ``pipeline.map`` runs in-process
  (``parallel=False``), keeps results in memory (``storage="dict"``, no ``run_folder``, nothing
  written to disk) and shows no progress bar.
- build: ``Pipeline([...])`` is lazy, so building also touches ``pipeline.graph`` and
  ``pipeline.topological_generations``, the validation that a first run would pay anyway.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pipefunc
from _common import CHAIN, build_budget, measure


class PipefuncAdapter:
    name = "pipefunc"
    version = pipefunc.__version__

    def declare(
        self, funcs: list[Callable[..., Any]], outputs: list[str], mapped: bool
    ) -> list[Any]:
        out = []
        for i, (f, o) in enumerate(zip(funcs, outputs)):
            mapspec = f"x{i}[i] -> {o}[i]" if mapped else None
            out.append(pipefunc.pipefunc(output_name=o, mapspec=mapspec)(f))
        return out

    def build(self, nodes: list[Any]) -> Any:
        p = pipefunc.Pipeline(nodes)
        _ = p.graph
        _ = p.topological_generations
        return p

    def run(self, pipeline: Any, x0: int) -> Any:
        return pipeline.run(f"x{CHAIN}", kwargs={"x0": x0}, full_output=True)[f"x{CHAIN}"]

    def map(self, pipeline: Any, xs: list[int]) -> list[Any]:
        res = pipeline.map({"x0": xs}, parallel=False, storage="dict", show_progress=False)
        return list(res[f"x{CHAIN}"].output)


def main() -> None:
    print(
        json.dumps(
            measure(PipefuncAdapter(), quick="--quick" in sys.argv, build_budget_s=build_budget())
        )
    )


if __name__ == "__main__":
    main()
