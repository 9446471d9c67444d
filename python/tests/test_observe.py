"""The engine's run-tree model through the binding (``_core.RunTree``) and the two Python renderers
that draw it (``TelemetryCallback``, ``ProgressCallback``), fed the event sequences of
``crates/hypernodes/tests/data/run_tree_cases.json``, which the Rust tests feed to the same model:
both fronts must give the same span tree and the same bars."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypernodes import _core
from hypernodes.callbacks import CallbackContext
from hypernodes.progress import BarInfo, ProgressCallback

CASES = json.loads(
    (
        Path(__file__).resolve().parents[2] / "crates/hypernodes/tests/data/run_tree_cases.json"
    ).read_text()
)["cases"]
IDS = [c["name"] for c in CASES]


def _lines(changes: list[tuple]) -> list[str]:
    opened, outcome = [], {}
    for c in changes:
        if c[0] == "open":
            opened.append(c[1:])
        elif c[0] == "close":
            assert c[1] not in outcome, f"span {c[1]} closed twice"
            outcome[c[1]] = c[2]
    out: list[str] = []

    def walk(parent, depth):
        for sid, p, name, attrs in opened:
            if p != parent:
                continue
            own = attrs.get("hypernodes.node", attrs.get("hypernodes.item_index"))
            own = attrs["hypernodes.pipeline"] if own is None else own
            out.append(f"{'  ' * depth}{name} {own} #{sid} {outcome.get(sid, 'open')}")
            walk(sid, depth + 1)

    walk(None, 0)
    return out


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_binding_gives_the_engine_model(case):
    tree = _core.RunTree()
    changes = []
    for hook, args, path, items in case["events"]:
        changes += tree.feed(hook, tuple(args), path, items)
    assert _lines(changes) == case["tree"]
    bars = [c[2] for c in changes if c[0] == "bar"]
    final = {}
    for c in changes:
        if c[0] == "bar":
            final[c[1]] = c[2]
    assert [[list(b[0]), *b[1:]] for b in final.values()] == case["bars"]
    assert bars, "bars were reported"
    assert tree.done
    assert changes[-1] == ("done",)


def _feed(cb, events) -> None:
    ctx = CallbackContext()
    for hook, args, path, items in events:
        ctx.hierarchy_path, ctx.items = path, tuple(items)
        getattr(cb, hook)(*args, ctx)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_progress_draws_the_same_bars(case):
    cb = ProgressCallback(disable=True)
    _feed(cb, case["events"])
    want = [BarInfo(tuple(b[0]), *b[1:]) for b in case["bars"]]
    assert cb.bars() == want


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_telemetry_draws_the_same_tree(case):
    pytest.importorskip("opentelemetry.sdk")
    from hypernodes import TelemetryCallback
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.trace import StatusCode

    started = []

    class Order(SpanProcessor):
        def on_start(self, span, parent_context=None):
            started.append(span)

    provider = TracerProvider()
    provider.add_span_processor(Order())
    _feed(TelemetryCallback(provider.get_tracer("t"), map_items=True), case["events"])
    out: list[str] = []

    def walk(parent, depth):
        for s in started:
            up = s.parent.span_id if s.parent is not None else None
            if up != parent:
                continue
            a = s.attributes
            own = a.get("hypernodes.node", a.get("hypernodes.item_index", a["hypernodes.pipeline"]))
            if s.status.status_code is StatusCode.ERROR:
                how = "failed"
            elif a.get("hypernodes.cached"):
                how = "cached"
            else:
                how = "ok" if s.end_time is not None else "open"
            out.append(f"{'  ' * depth}{s.name} {own} {how}")
            walk(s.context.span_id, depth + 1)

    walk(None, 0)
    assert out == [re.sub(r" #\d+", "", line) for line in case["tree"]]


def test_a_renderer_gets_only_the_changes_it_draws():
    events = CASES[0]["events"]
    kinds = {}
    for spans, bars in [(True, True), (False, True), (True, False)]:
        tree = _core.RunTree(spans=spans, bars=bars)
        got = [
            c
            for hook, args, path, items in events
            for c in tree.feed(hook, tuple(args), path, items)
        ]
        kinds[(spans, bars)] = {c[0] for c in got}
    assert kinds[(True, True)] == {"open", "close", "bar", "done"}
    assert kinds[(False, True)] == {"bar", "done"}
    assert kinds[(True, False)] == {"open", "close", "done"}


def test_an_unknown_hook_is_named():
    with pytest.raises(ValueError, match="on_node_begin"):
        _core.RunTree().feed("on_node_begin", ("a", {}), ["p"], [])
