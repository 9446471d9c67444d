"""Running Graphviz's ``dot`` program, and saving a picture to a file chosen by its extension."""

from __future__ import annotations

import os
import shutil
import subprocess

from hypernodes.errors import ConfigurationError, GraphvizNotFoundError

IMAGE_FORMATS = ("svg", "png", "pdf")
INSTALL_HINT = (
    "Graphviz's `dot` program was not found on PATH; it draws .svg/.png/.pdf pictures. Install "
    "Graphviz (Debian/Ubuntu: `apt-get install graphviz`, macOS: `brew install graphviz`, conda: "
    "`conda install graphviz`), or save as .dot (the source) or .html (the interactive view), "
    "which need no Graphviz."
)


def dot_program() -> str:
    """The path of ``dot``; raises :class:`GraphvizNotFoundError` with install advice."""
    path = shutil.which("dot")
    if path is None:
        raise GraphvizNotFoundError(INSTALL_HINT)
    return path


def run_dot(source: str, fmt: str) -> bytes:
    """The DOT source rendered by Graphviz in ``fmt`` ("svg", "png" or "pdf")."""
    if fmt not in IMAGE_FORMATS:
        raise ConfigurationError(f"unknown image format {fmt!r}: use one of {IMAGE_FORMATS}")
    proc = subprocess.run(
        [dot_program(), f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise ConfigurationError(
            f"Graphviz failed to draw the picture: {proc.stderr.decode(errors='replace').strip()}"
        )
    return proc.stdout


def extension(filename: str | os.PathLike) -> str:
    """The lower-case extension of ``filename`` without the dot; errors name the file."""
    ext = os.path.splitext(os.fspath(filename))[1].lower().lstrip(".")
    if ext not in (*IMAGE_FORMATS, "dot", "gv", "html"):
        raise ConfigurationError(
            f"cannot tell what to write to {os.fspath(filename)!r}: use a .svg, .png, .pdf, "
            ".dot or .html file name"
        )
    return ext
