"""Running the coroutines of ``async def`` nodes from synchronous engine code.

Every coroutine runs on one shared event loop in a background thread: engine threads (and the
caller, even from inside its own running loop such as Jupyter's) submit coroutines to it and wait,
so coroutines of concurrent nodes and map items interleave on asyncio and the caller's loop is never
patched or re-entered.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Coroutine

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _background() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="hypernodes-async", daemon=True).start()
            _loop = loop
        return _loop


def run_coroutine(coro: Coroutine[Any, Any, Any]) -> Any:
    """Runs ``coro`` to completion on the shared loop and returns its result."""
    return asyncio.run_coroutine_threadsafe(coro, _background()).result()
