"""Progress bars for runs and maps, drawn with tqdm (``tqdm.auto``: notebook bars in Jupyter). The
engine counts (``hypernodes._core.RunTree``, shared with telemetry and the Rust ``ProgressCallback``);
this module only draws.

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
from dataclasses import dataclass, replace
from typing import Any

from hypernodes._observe import TreeCallback, _Run
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


class ProgressCallback(TreeCallback):
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

    _spans = False  # draws bars only

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
        self._init_tree()
        self._lock = threading.Lock()
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
            out = [replace(b.info) for r in self._open.values() for b in r.draw]
            return out + [replace(b) for b in self._last]

    def close(self) -> None:
        """Closes the bars of every run still in progress (e.g. after an interrupted run)."""
        with self._lock:
            for run in list(self._open.values()):
                self._finish(run)

    def _new_draw(self) -> list[_Bar]:
        return []

    def _started(self, run: _Run) -> None:
        with self._lock:
            self._open[id(run)] = run

    def _finish(self, run: _Run) -> None:
        for bar in run.draw:
            bar.close()
        self._last = [b.info for b in run.draw]
        self._open.pop(id(run), None)

    def _maker(self, info: BarInfo) -> Any:
        if self.disable:
            return None
        indent = "  " * (len(info.path) - 1 + (info.node is not None))
        label = info.node if info.node is not None else " › ".join(info.path)
        kwargs = {"dynamic_ncols": True, "leave": self.leave, **self.tqdm_kwargs}

        def make(n: int) -> Any:
            from tqdm.auto import tqdm

            return tqdm(total=n, desc=f"{indent}{label}", **kwargs)

        return make

    def _render(self, run: _Run, changes: list[tuple], hook: str, args: tuple) -> None:
        with self._lock:
            for change in changes:
                if change[0] == "bar":
                    _, index, fields = change
                    if index == len(run.draw):
                        info = BarInfo(*fields)
                        run.draw.append(_Bar(info, self._maker(info)))
                    bar = run.draw[index]
                    i = bar.info
                    _, _, i.done, i.total, i.cached, i.failed, i.finished = fields
                    bar.refresh()
                elif change[0] == "done":
                    self._finish(run)


__all__ = ["BarInfo", "ProgressCallback"]
