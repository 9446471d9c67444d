"""Measures hypernodes 0.4.8 (the original, pure-Python HyperNodes) and prints the result as JSON.

Runs inside benches/.peer-venv-hn, where `import hypernodes` is the PyPI package, not this project.
"""

from __future__ import annotations

import json
import sys

from _common import HypernodesStyle, build_budget, measure


def main() -> None:
    adapter = HypernodesStyle("hypernodes")
    if not adapter.version.startswith("0.4"):
        sys.exit(f"expected hypernodes 0.4.x in this venv, found {adapter.version}")
    print(json.dumps(measure(adapter, quick="--quick" in sys.argv, build_budget_s=build_budget())))


if __name__ == "__main__":
    main()
