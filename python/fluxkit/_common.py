"""Helpers shared by the modules of the Python API (not public)."""
from __future__ import annotations

import os
import sys

from . import _core


def threads_arg(threads):
    """None (every core) or a positive int."""
    if threads is None:
        return None
    threads = int(threads)
    if threads < 1:
        raise ValueError(f"threads: expected a positive number, got {threads}")
    return threads


def command_line(verb: str) -> str:
    """What the provenance of files written from Python records as the command line."""
    argv = " ".join(sys.argv) if sys.argv and sys.argv[0] else "python"
    return f"python: fluxkit.{verb}() from {argv} (pid {os.getpid()})"


__all__ = ["_core", "threads_arg", "command_line"]
