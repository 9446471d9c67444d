"""Progress bars for runs and maps, drawn with tqdm (``tqdm.auto``: notebook bars in Jupyter).

One bar per pipeline level (keyed by the hierarchy path of pipeline names) and one per node of that
level (keyed by the path and the node's name). A level's bar counts the runs of that pipeline that
finished; a node's bar counts the node's completions, computed or read from the cache, and shows
how many were cache hits (and failures); tqdm shows the rate. A map adds its items to the totals of
its level and of that level's nodes: a map nested in a mapped pipeline reuses the same bars for
every item of the outer map (their totals grow with each inner ``on_map_start``) instead of opening
bars per item.

The bars of one root run close when it ends (``on_pipeline_end`` or ``on_map_end`` at depth 0) or
fails (``on_error`` at depth 0). Each root run keeps its own bars in the run's callback context, so
concurrent runs sharing one ``ProgressCallback`` do not mix.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field, replace
from typing import Any

from hypernodes.callbacks import Callback
from hypernodes.errors import ConfigurationError


@dataclass
class BarInfo:
    """The state of one bar (see :meth:`ProgressCallback.bars`)."""

    path: tuple[str, ...]
    """Pipeline names from the root to the bar's level."""
    node: str | None
    """The node's name for a node bar; None for the level's own bar."""
    done: int = 0
    """Completions: finished runs for a level, computed or cached calls for a node."""
    total: int = 0
    """The expected total."""
    cached: int = 0
    """Cache hits (nodes; for a level, map items whose every node was a hit)."""
    failed: int = 0
    """Nodes that raised."""
    finished: bool = False
    """Whether the bar was closed."""


@dataclass
class _Bar:
    info: BarInfo
    make: Any = None  # makes the tqdm bar (None when disabled)
    bar: Any = None  # the tqdm bar, made once the total is known (notebook bars need it)

    def refresh(self) -> None:
        if self.bar is None and self.make is not None and self.info.total > 0:
            self.bar, self.make = self.make(self.info.total), None
        bar = self.bar
        if bar is None:
            return
        if bar.total != self.info.total:
            bar.total = self.info.total
            pbar = getattr(getattr(bar, "container", None), "children", [None, None])[1]
            if pbar is not None and hasattr(pbar, "max"):  # notebook bars keep their own max
                pbar.max = self.info.total
        parts = []
        if self.info.cached:
            parts.append(f"{self.info.cached} cached")
        if self.info.failed:
            parts.append(f"{self.info.failed} failed")
        bar.set_postfix_str(", ".join(parts), refresh=False)
        delta = self.info.done - bar.n
        if delta > 0:
            bar.update(delta)  # redraws at most every `mininterval` (total and postfix included)

    def close(self) -> None:
        self.info.finished = True
        if self.bar is not None:
            self.refresh()
            self.bar.refresh()
            self.bar.close()


@dataclass
class _Level:
    bar: _Bar
    budget: int = 0  # map items announced by on_map_start whose run has not started yet
    nodes: list[str] = field(default_factory=list)


@dataclass
class _Run:
    levels: dict[tuple, _Level] = field(default_factory=dict)
    node_bars: dict[tuple, _Bar] = field(default_factory=dict)
    order: list[_Bar] = field(default_factory=list)
    root_maps: int = 0
    done: bool = False


def _check_tqdm_kwargs(kwargs: dict[str, Any]) -> None:
    import inspect

    from tqdm.std import tqdm  # every tqdm.auto flavour takes the standard bar's arguments

    known = set(inspect.signature(tqdm.__init__).parameters) - {"self", "iterable", "kwargs"}
    for key in kwargs:
        if key not in known:
            raise ConfigurationError(
                f"ProgressCallback: tqdm takes no argument '{key}' (it takes: "
                f"{', '.join(sorted(known))})"
            )


class ProgressCallback(Callback):
    """Progress bars for every pipeline level and node of a run or map (see the module docs).

    Args:
        disable: track progress without drawing bars (for tests; :meth:`bars` still works).
        leave: keep the bars on screen when they close.
        enable: the original HyperNodes' spelling: ``enable=False`` is ``disable=True``.
        **tqdm_kwargs: further arguments for every tqdm bar (e.g. ``file=``, ``ncols=``); a name
            tqdm does not take is a ``ConfigurationError`` here, not at the first bar.

    Pickles as its configuration: live bars stay behind (a pipeline shipped to another process
    draws its own bars there).
    """

    def __init__(
        self,
        disable: bool = False,
        leave: bool = True,
        *,
        enable: bool | None = None,
        **tqdm_kwargs: Any,
    ) -> None:
        if enable is not None:
            if disable and enable:
                raise ConfigurationError("ProgressCallback: disable=True contradicts enable=True")
            disable = not enable
        _check_tqdm_kwargs(tqdm_kwargs)
        self.disable = disable
        self.leave = leave
        self.tqdm_kwargs = tqdm_kwargs
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._lock = threading.RLock()
        self._key = f"_hypernodes.progress.{id(self)}"
        self._last: list[BarInfo] = []
        self._open: weakref.WeakValueDictionary[int, _Run] = weakref.WeakValueDictionary()

    def __getstate__(self) -> dict:
        return {"disable": self.disable, "leave": self.leave, "tqdm_kwargs": self.tqdm_kwargs}

    def __setstate__(self, state: dict) -> None:
        self.disable = state.get("disable", False)
        self.leave = state.get("leave", True)
        self.tqdm_kwargs = state.get("tqdm_kwargs", {})
        self._init_runtime()

    def __repr__(self) -> str:
        return f"ProgressCallback(disable={self.disable}, leave={self.leave})"

    def bars(self) -> list[BarInfo]:
        """Snapshots of the bars of the root runs in progress, then of the last root run that
        ended, each in the order the bars were opened."""
        with self._lock:
            out = [replace(b.info) for r in self._open.values() for b in r.order]
            return out + [replace(b) for b in self._last]

    def close(self) -> None:
        """Closes the bars of every run still in progress (e.g. after an interrupted run)."""
        with self._lock:
            for run in list(self._open.values()):
                self._finish(run)

    # ----------------------------------------------------------------------------- helpers

    def _run(self, ctx: Any) -> _Run:
        run = ctx.get(self._key)
        if run is None:
            run = _Run()
            ctx.set(self._key, run)
            self._open[id(run)] = run
        return run

    def _finish(self, run: _Run) -> None:
        for bar in run.order:
            bar.close()
        self._last = [b.info for b in run.order]
        run.done = True
        run.levels.clear()
        run.node_bars.clear()
        run.order = []
        self._open.pop(id(run), None)

    def _new_bar(self, run: _Run, path: tuple, node: str | None, total: int) -> _Bar:
        info = BarInfo(path=path, node=node, total=total)
        make = None
        if not self.disable:
            indent = "  " * (len(path) - 1 + (node is not None))
            label = node if node is not None else " › ".join(path)
            kwargs = {"dynamic_ncols": True, "leave": self.leave, **self.tqdm_kwargs}

            def make(n: int) -> Any:
                from tqdm.auto import tqdm

                return tqdm(total=n, desc=f"{indent}{label}", **kwargs)

        b = _Bar(info, make)
        b.refresh()
        run.order.append(b)
        return b

    def _level(self, run: _Run, path: tuple) -> _Level:
        level = run.levels.get(path)
        if level is None:
            level = _Level(self._new_bar(run, path, None, 0))
            run.levels[path] = level
        return level

    def _grow(self, run: _Run, path: tuple, n: int) -> None:
        level = self._level(run, path)
        level.bar.info.total += n
        level.bar.refresh()
        for node in level.nodes:
            bar = run.node_bars[(path, node)]
            bar.info.total += n
            bar.refresh()

    def _node(self, run: _Run, path: tuple, node: str) -> _Bar:
        bar = run.node_bars.get((path, node))
        if bar is None:
            level = self._level(run, path)
            bar = self._new_bar(run, path, node, max(level.bar.info.total, 1))
            level.nodes.append(node)
            run.node_bars[(path, node)] = bar
        return bar

    def _event(self, ctx: Any) -> tuple[_Run | None, tuple]:
        run = self._run(ctx)
        return (None if run.done else run), tuple(ctx.hierarchy_path)

    # ----------------------------------------------------------------------------- hooks

    def on_map_start(self, total_items: int, ctx: Any) -> None:
        with self._lock:
            run, path = self._event(ctx)
            if run is None:
                return
            if ctx.depth == 0:
                run.root_maps += 1
            self._level(run, path).budget += total_items
            self._grow(run, path, total_items)

    def on_pipeline_start(self, pipeline_id: str, inputs: dict, ctx: Any) -> None:
        with self._lock:
            run, path = self._event(ctx)
            if run is None:
                return
            level = self._level(run, path)
            if level.budget > 0:
                level.budget -= 1
            else:
                self._grow(run, path, 1)

    def on_pipeline_end(self, pipeline_id: str, outputs: dict, duration: float, ctx: Any) -> None:
        with self._lock:
            run, path = self._event(ctx)
            if run is None:
                return
            bar = self._level(run, path).bar
            bar.info.done += 1
            bar.refresh()
            if ctx.depth == 0 and run.root_maps == 0:
                self._finish(run)

    def on_map_item_cached(self, item_index: int, signature: str, ctx: Any) -> None:
        with self._lock:
            run, path = self._event(ctx)
            if run is None:
                return
            bar = self._level(run, path).bar
            bar.info.cached += 1
            bar.refresh()

    def on_map_end(self, total_duration: float, ctx: Any) -> None:
        with self._lock:
            run, _ = self._event(ctx)
            if run is None or ctx.depth != 0:
                return
            run.root_maps = max(run.root_maps - 1, 0)
            if run.root_maps == 0:
                self._finish(run)

    def on_node_start(self, node_id: str, inputs: dict, ctx: Any) -> None:
        with self._lock:
            run, path = self._event(ctx)
            if run is not None:
                self._node(run, path, node_id)

    def _count(self, ctx: Any, node_id: str, done: int = 0, cached: int = 0, failed: int = 0):
        """Adds to a node's bar (under the lock); returns the run, or None when not tracked."""
        run, path = self._event(ctx)
        if run is None:
            return None
        bar = self._node(run, path, node_id)
        bar.info.done += done
        bar.info.cached += cached
        bar.info.failed += failed
        bar.refresh()
        return run

    def on_node_end(self, node_id: str, outputs: dict, duration: float, ctx: Any) -> None:
        with self._lock:
            self._count(ctx, node_id, done=1)

    def on_node_cached(self, node_id: str, signature: str, ctx: Any) -> None:
        with self._lock:
            self._count(ctx, node_id, done=1, cached=1)

    def on_error(self, node_id: str, error: BaseException, ctx: Any) -> None:
        with self._lock:
            run = self._count(ctx, node_id, failed=1)
            if run is not None and ctx.depth == 0:
                # An error at depth 0 ends the root run: nothing else will close its bars.
                self._finish(run)

    # The remaining hooks need no bars.
    def on_nested_pipeline_start(self, parent_id: str, child_pipeline_id: str, ctx: Any) -> None:
        pass

    def on_nested_pipeline_end(
        self, parent_id: str, child_pipeline_id: str, duration: float, ctx: Any
    ) -> None:
        pass

    def on_map_item_start(self, item_index: int, ctx: Any) -> None:
        pass

    def on_map_item_end(self, item_index: int, duration: float, ctx: Any) -> None:
        pass


__all__ = ["BarInfo", "ProgressCallback"]
