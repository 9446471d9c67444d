"""Shared helpers for the HyperNodes pytest suite."""

from __future__ import annotations

import os

import pytest

# Tests talk only to this machine: Daft's usage analytics would call out to the network.
os.environ.setdefault("DAFT_ANALYTICS_ENABLED", "0")


class Calls(list):
    """A list of node names in the order the nodes were called, with a per-name counter."""

    def count_of(self, name: str) -> int:
        return sum(1 for c in self if c == name)


class Heavy:
    """A 'model' passed as a shared (broadcast) input: each unpickling is logged with the process id,
    so a test can count how often each worker process received it."""

    def __init__(self, log, size: int = 10) -> None:
        import numpy as np

        self.log = str(log)
        self.weights = np.arange(size)

    def __getstate__(self):
        return {"log": self.log, "weights": self.weights}

    def __setstate__(self, state):
        self.__dict__.update(state)
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()}\n")


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture(params=["node", "daft"])
def executor(request):
    """Each executor the conformance tests run against: NodeExecutor, then DaftExecutor (which needs
    the 'daft' extra: a missing Daft fails these tests, it never skips them)."""
    if request.param == "node":
        from hypernodes import NodeExecutor

        return NodeExecutor()
    from hypernodes.daft import DaftExecutor

    return DaftExecutor()


MODES = [
    "node:sequential",
    "node:threaded-nodes",
    "node:async-nodes",
    "node:parallel-nodes",
    "node:threaded-map",
    "node:async-map",
    "node:parallel-map",
    "daft:threads",
    "daft:processes",
]
"""Every executor and mode the protocol conformance tests run under."""

IN_WORKER_PROCESSES = {"node:parallel-nodes", "node:parallel-map", "daft:processes"}
"""The modes in which nodes run in other processes (values travel as pickles)."""


def make_executor(mode: str):
    """The executor for one of ``MODES`` (two workers, so that items and nodes overlap)."""
    from hypernodes import NodeExecutor

    kind, _, how = mode.partition(":")
    if kind == "daft":
        from hypernodes.daft import DaftExecutor

        return DaftExecutor(use_process=how == "processes")
    if how == "sequential":
        return NodeExecutor()
    style, _, level = how.partition("-")
    if level == "nodes":
        return NodeExecutor(node_execution=style, max_workers=2)
    return NodeExecutor(map_execution=style, max_workers=2)


@pytest.fixture(params=MODES)
def mode(request) -> str:
    """Each executor and mode of ``MODES`` (DaftExecutor included: a missing Daft fails, never
    skips)."""
    return request.param


def import_source(tmp_path, source: str, name: str | None = None):
    """Writes `source` (dedented) to a file under `tmp_path` and imports it as a module registered
    in `sys.modules` (a unique name unless given), as a user's own module would be."""
    import importlib.util
    import sys
    import textwrap
    import uuid

    name = name or f"hn_mod_{uuid.uuid4().hex[:12]}"
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
