"""Encoding Python values for the disk cache: pickle protocol 5 with large buffers (numpy arrays and
the like) stored out of band, so they are written and read without extra copies inside the pickle.
Values that plain pickle cannot handle (lambdas, local classes) fall back to cloudpickle."""

from __future__ import annotations

import pickle
import struct
from typing import Any


def dumps(obj: Any) -> bytes:
    """Encodes ``obj``; raises when it cannot be pickled at all."""
    buffers: list[pickle.PickleBuffer] = []
    try:
        data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    except Exception:  # noqa: BLE001 - retry with the more capable pickler
        import cloudpickle

        buffers = []
        data = cloudpickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    if not buffers:
        return b"\x00" + data
    raws = [b.raw() for b in buffers]
    header = struct.pack(f"<BI{len(raws) + 1}Q", 1, len(raws), len(data), *[r.nbytes for r in raws])
    return b"".join([header, data, *raws])


def loads(blob: bytes) -> Any:
    """Decodes what ``dumps`` made (buffers come back writable)."""
    view = memoryview(blob)
    if view[0] == 0:
        return pickle.loads(view[1:])
    (count,) = struct.unpack_from("<I", view, 1)
    lengths = struct.unpack_from(f"<{count + 1}Q", view, 5)
    offset = 5 + 8 * (count + 1)
    data = view[offset : offset + lengths[0]]
    offset += lengths[0]
    buffers = []
    for n in lengths[1:]:
        buffers.append(bytearray(view[offset : offset + n]))
        offset += n
    return pickle.loads(data, buffers=buffers)
