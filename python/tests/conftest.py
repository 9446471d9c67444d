"""Shared helpers for the HyperNodes pytest suite."""

from __future__ import annotations

import pytest


class Calls(list):
    """A list of node names in the order the nodes were called, with a per-name counter."""

    def count_of(self, name: str) -> int:
        return sum(1 for c in self if c == name)


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
