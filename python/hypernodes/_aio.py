"""Running the coroutines of ``async def`` nodes from synchronous engine code.

Outside an event loop the coroutine runs on this thread's own reusable loop. Inside a running loop
(Jupyter, an ``async def`` caller) it runs on a background thread's loop, so the caller's loop is
never patched or re-entered.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Coroutine

_local = threading.local()
_background_lock = threading.Lock()
_background_loop: asyncio.AbstractEventLoop | None = None


def _thread_loop() -> asyncio.AbstractEventLoop:
    loop = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _local.loop = loop
    return loop


def _background() -> asyncio.AbstractEventLoop:
    global _background_loop
    with _background_lock:
        if _background_loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(
                target=loop.run_forever, name="hypernodes-async", daemon=True
            ).start()
            _background_loop = loop
        return _background_loop


def run_coroutine(coro: Coroutine[Any, Any, Any]) -> Any:
    """Runs ``coro`` to completion and returns its result, whether or not a loop is running here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _thread_loop().run_until_complete(coro)
    return asyncio.run_coroutine_threadsafe(coro, _background()).result()
