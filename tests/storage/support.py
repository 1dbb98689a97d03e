"""Small shared pieces of the storage tests: the `run` fixture's type and a /proc process probe."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Run = Callable[[Awaitable[Any]], Any]


def is_running(pid: int) -> bool:
    """True if `pid` is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def pids_in(directory: Path) -> list[int]:
    """Live processes whose working directory is `directory` (a server chdirs into its data folder)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(f"/proc/{entry.name}/cwd"))
        except OSError:
            continue
        if cwd == directory.resolve() and is_running(int(entry.name)):
            found.append(int(entry.name))
    return found
