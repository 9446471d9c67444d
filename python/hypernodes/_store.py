"""Encoding Python values for the disk cache: pickle protocol 5 with large buffers (numpy arrays and
the like) stored out of band, so they are written and read without extra copies inside the pickle.
Values that plain pickle cannot handle (lambdas, local classes) fall back to cloudpickle.

Layout: ``0x00`` + pickle, or (with buffers) ``0x02``, the buffer count (u32), the pickle's and each
buffer's length (u64), the pickle, then each buffer at an offset aligned to 64 bytes. Given a
``bytearray``, ``loads`` hands the buffers to pickle as slices of it: writable and not copied."""

from __future__ import annotations

import pickle
import struct
from typing import Any

_ALIGN = 64


def dumps(obj: Any) -> bytes:
    """Encodes ``obj``; raises when it cannot be pickled at all."""
    return b"".join(dumps_parts(obj))


def dumps_parts(obj: Any) -> list:
    """The encoding of ``obj`` as a list of buffers to concatenate (the large ones not copied)."""
    buffers: list[pickle.PickleBuffer] = []
    try:
        data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    except Exception:  # noqa: BLE001 - retry with the more capable pickler
        import cloudpickle

        buffers = []
        data = cloudpickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    if not buffers:
        return [b"\x00", data]
    raws = [b.raw() for b in buffers]
    header = struct.pack(f"<BI{len(raws) + 1}Q", 2, len(raws), len(data), *[r.nbytes for r in raws])
    parts: list = [header, data]
    offset = len(header) + len(data)
    for r in raws:
        pad = -offset % _ALIGN
        if pad:
            parts.append(bytes(pad))
        parts.append(r)
        offset += pad + r.nbytes
    return parts


def loads(blob: bytes | bytearray) -> Any:
    """Decodes what ``dumps`` made (buffers come back writable: slices of ``blob`` when it is a
    ``bytearray``, copies otherwise)."""
    view = memoryview(blob)
    if view[0] == 0:
        return pickle.loads(view[1:])
    version = view[0]
    (count,) = struct.unpack_from("<I", view, 1)
    lengths = struct.unpack_from(f"<{count + 1}Q", view, 5)
    offset = 5 + 8 * (count + 1)
    data = view[offset : offset + lengths[0]]
    offset += lengths[0]
    buffers: list = []
    for n in lengths[1:]:
        if version >= 2:
            offset += -offset % _ALIGN
        part = view[offset : offset + n]
        buffers.append(bytearray(part) if view.readonly else part)
        offset += n
    return pickle.loads(data, buffers=buffers)
