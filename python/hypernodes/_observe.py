"""Callbacks that only draw: the engine keeps the model of each root run (``_core.RunTree``: which
spans are open under which parent, what every progress bar counts, with map item identity on
every event) and a ``TreeCallback`` subclass renders the changes it reports."""

from __future__ import annotations

from typing import Any

from hypernodes import _core
from hypernodes.callbacks import Callback, CallbackContext

_HOOKS = [name for name in vars(Callback) if name.startswith("on_")]


class _Run:
    """The engine's tree of one root run, with the renderer's own drawing state."""

    __slots__ = ("__weakref__", "draw", "tree")

    def __init__(self, draw: Any, tree: Any) -> None:
        self.tree = tree
        self.draw = draw


class TreeCallback(Callback):
    """Feeds every event to its root run's ``RunTree`` and passes the changes to ``_render``
    (only those it draws: ``_spans``, ``_bars``)."""

    _spans = True
    _bars = True

    def _init_tree(self) -> None:
        self._key = f"_hypernodes.tree.{id(self)}"

    def _new_draw(self) -> Any:
        """The renderer's drawing state for a new root run."""
        return {}

    def _render(self, run: _Run, changes: list[tuple], hook: str, args: tuple) -> None:
        raise NotImplementedError

    def _feed(self, hook: str, args: tuple, ctx: CallbackContext) -> None:
        run = ctx.get(self._key)
        if run is None:
            run = _Run(self._new_draw(), _core.RunTree(spans=self._spans, bars=self._bars))
            ctx.set(self._key, run)
            self._started(run)
        changes = run.tree.feed(hook, args, ctx.hierarchy_path, getattr(ctx, "items", ()))
        if changes:
            self._render(run, changes, hook, args)

    def _started(self, run: _Run) -> None:
        """A root run was seen for the first time."""


def _forward(name: str):
    def hook(self: TreeCallback, *args: Any) -> None:
        self._feed(name, args[:-1], args[-1])

    hook.__name__ = hook.__qualname__ = name
    hook.__doc__ = getattr(Callback, name).__doc__
    return hook


for _name in _HOOKS:
    setattr(TreeCallback, _name, _forward(_name))
