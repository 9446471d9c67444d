"""DaftExecutor's columnar path for a map over DualNodes (as NodeExecutor's, in the engine): when
every node of the plan is a DualNode, no cache and no callbacks are in effect, the map raises on
the first error, Daft runs natively with its threads in this process and the mapped inputs are
lists (or tuples) of one length, the items are never turned into rows. Daft's table holds only the
items' positions; each DualNode is a Daft batch UDF that slices the batch's values out of the
mapped lists (or out of an earlier DualNode's results) by those positions, calls the node's batch
function once through the engine (``NodeStep.call_columns``: its argument and length rules) and
writes the results into one list per output. The map's dicts are built from those lists at the
end. Any other map takes the row path, which gives the same answers."""

from __future__ import annotations

import threading
from typing import Any

from hypernodes import _core
from hypernodes._daft import worker as _w

_ABSENT = object()


def mapped_lists(call: Any) -> tuple[int, dict[str, list]] | None:
    """The mapped lists of a map that may take the columnar path (``(items, {input: list})``, the
    inputs the plan reads), or None: the row path then splits the items (and raises the engine's
    errors about them)."""
    over = call.map_over
    if not over or not (call.map_mode == "zip" or (call.map_mode == "product" and len(over) == 1)):
        return None
    if _w.in_worker() or call.ex.runner == "ray" or call.ex.use_process is True:
        return None
    specs = call.plan.specs.values()
    if not specs or any(s.is_pipeline or s.node.batch is None for s in specs):
        return None
    if any(o not in call.plan.producer for o in call.plan.outputs):
        return None
    n = None
    lists = {}
    for name in over:
        value = call.inputs.get(name, _ABSENT)
        if value is _ABSENT:
            value = call.pipeline.bound.get(name, _ABSENT)
        if not isinstance(value, (list, tuple)) or (n is not None and len(value) != n):
            return None
        n = len(value)
        if name in call.plan.inputs:
            lists[name] = value if isinstance(value, list) else list(value)
    if not n:
        return None
    return n, lists


class _State:
    """What the UDFs of one columnar map share, in this process (found through a token: a Daft
    function must pickle, so it holds only the token and its node's index)."""

    def __init__(self, call: Any, n: int, lists: dict[str, list]) -> None:
        plan = call.plan
        self.plan = plan
        self.lists = lists
        self.shared = call.base
        # every output of every planned node, one value per item
        self.results: dict[str, list] = {
            name: [None] * n for i in plan.order for name in plan.specs[i].outputs
        }
        self.errors: list[tuple[int, str, BaseException, bool]] = []
        self.lock = threading.Lock()
        self.steps = {}
        for i in plan.order:
            spec = plan.specs[i]
            varies = [p in lists or p in plan.producer for p in spec.params]
            self.steps[i] = (spec, _core.NodeStep(spec.node, identity=spec.identity), varies)

    def column(self, name: str, take: slice | list[int]) -> list:
        source = self.lists[name] if name in self.lists else self.results[name]
        if isinstance(take, slice):
            return source[take]
        return [source[j] for j in take]

    def batch(self, i: int, positions: Any) -> None:
        """Node ``i`` on the items at ``positions`` (a Daft Series): one batch call."""
        if self.errors:  # the map fails: no more batch calls
            return
        spec, step, varies = self.steps[i]
        pos = positions.to_arrow()
        m = len(pos)
        first, last = pos[0].as_py(), pos[m - 1].as_py()
        take: slice | list[int] = (
            slice(first, last + 1) if last - first + 1 == m else pos.to_pylist()
        )
        args = [self.column(p, take) if v else self.shared[p] for p, v in zip(spec.params, varies)]
        try:
            outs = step.call_columns(args, varies, m)
        except BaseException as exc:  # noqa: BLE001 - raised by `run` after the query
            with self.lock:
                self.errors.append((min(pos.to_pylist()), spec.name, exc, False))
            return
        if isinstance(outs, BaseException):  # the engine's error (a wrong length): names the node
            with self.lock:
                self.errors.append((min(pos.to_pylist()), spec.name, outs, True))
            return
        for name, values in zip(spec.outputs, outs):
            if isinstance(take, slice):
                self.results[name][take] = values
            else:
                target = self.results[name]
                for j, v in zip(take, values):
                    target[j] = v


def _udf(token: str, i: int, batch_size: int) -> Any:
    import daft

    @daft.func.batch(return_dtype=daft.DataType.int64(), use_process=False, batch_size=batch_size)
    def dual(positions: Any, *_after: Any) -> Any:
        _w.lookup(token).batch(i, positions)
        return positions

    return dual


def run(call: Any, n: int, lists: dict[str, list]) -> list[dict[str, Any]]:
    """The map's results through the columnar path (see the module's doc)."""
    import daft
    import numpy as np

    plan = call.plan
    state = _State(call, n, lists)
    token = _w.register(state)
    try:
        call.ex._ensure_runner()
        df = daft.from_pydict({"i": np.arange(n, dtype=np.int64)})
        for i in plan.order:
            spec = plan.specs[i]
            after = sorted({plan.producer[p][0] for p in spec.params if p in plan.producer})
            udf = _udf(token, i, spec.node.batch_size)
            df = df.with_column(f"d{i}", udf(daft.col("i"), *(daft.col(f"d{j}") for j in after)))
        morsel = min(n, max(plan.specs[i].node.batch_size for i in plan.order))
        with daft.execution_config_ctx(default_morsel_size=morsel):
            df.select(*(f"d{i}" for i in plan.order)).collect()
    finally:
        _w.unregister(token)
    if state.errors:
        first, name, exc, noted = min(state.errors, key=lambda e: e[0])
        if not noted:
            exc.add_note(call.ctx.map_item(first).node_note(name))
        raise exc
    names = plan.outputs
    results = state.results
    if len(names) == 1:
        (name,) = names
        return [{name: v} for v in results[name]]
    return [dict(zip(names, values)) for values in zip(*(results[nm] for nm in names))]
