"""Running the coroutines of ``async def`` nodes from synchronous engine code.

Each engine thread runs coroutines on an event loop of its own (closed when the thread ends), so the
coroutines of concurrent nodes and map items run on asyncio side by side, one loop per worker. When
the caller already has a running loop in this thread (Jupyter, an ``async def`` caller, a node that
runs a pipeline itself), that loop is never patched, re-entered or blocked on: the coroutine runs on
a fresh loop in a helper thread instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any

_local = threading.local()


class _LoopHolder:
    """Owns one thread's loop and closes it when the thread (and so this holder) goes away."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __del__(self) -> None:
        # closing at thread exit is best effort (the interpreter may be shutting down)
        with contextlib.suppress(Exception):
            self.loop.close()


def _thread_loop() -> asyncio.AbstractEventLoop:
    holder = getattr(_local, "holder", None)
    if holder is None or holder.loop.is_closed():
        holder = _LoopHolder()
        _local.holder = holder
    return holder.loop


def _run_on_own_thread(coro: Coroutine[Any, Any, Any]) -> Any:
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            result["error"] = exc

    thread = threading.Thread(target=target, name="hypernodes-async", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def run_coroutine(coro: Coroutine[Any, Any, Any]) -> Any:
    """Runs ``coro`` to completion and returns its result, whether or not a loop runs here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _thread_loop().run_until_complete(coro)
    return _run_on_own_thread(coro)
