"""The code identity of a node's function, one half of its cache key (docs/caching.md, "Code identity").

``code_identity(func)`` (implemented in Rust, ``hypernodes._core.code_identity``) is a digest of the
code that runs: the function's code object (bytecode, constants, names, nested code objects; not its
file, line numbers or layout), its defaults and closure values (a wrapped function by its own
identity), and what it reaches through its globals, transitively: user-defined functions, classes
and module attributes, and global constants of simple types by value.

``is_user_module(name)`` (implemented in Rust, decided once per module) decides what counts as
user code: ``__main__`` and every module except those of the standard library, of installed
packages (site-packages, the directories ``_library_roots`` names) and of hypernodes itself. A
module that is not imported (functions made by ``exec``) counts as user code.
"""

from __future__ import annotations

import functools
import os
import site
import sys

from hypernodes._core import code_identity, is_user_module

__all__ = ["code_identity", "is_user_module"]


@functools.cache
def _library_roots() -> tuple[str, ...]:
    """Directories whose modules are library code: the standard library and site-packages (read
    from the interpreter, not from ``sysconfig``, which is slow to load)."""
    roots = {os.path.dirname(os.__file__)}  # the standard library (lib-dynload is inside it)
    roots.update(p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages"))
    try:
        roots.update(site.getsitepackages())
    except AttributeError:  # some embedded interpreters
        pass
    if site.ENABLE_USER_SITE and site.USER_SITE:
        roots.add(site.USER_SITE)
    roots = {r for r in roots if r}
    # both as given and with symlinks resolved, so that a module's path needs no resolving
    return tuple(
        sorted(
            {os.path.abspath(r) + os.sep for r in roots}
            | {os.path.realpath(r) + os.sep for r in roots}
        )
    )


_library_roots()  # once, when the package loads (not on a process's first run)
