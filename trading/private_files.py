"""Secret files only their owner may read: written whole under a temporary name with mode 0600 and then put in
place (a reader never sees half a key, two writers never both win), refused when others can read them."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from trading.errors import ConfigError


def write_private(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write `data` to `path` with mode 0600, atomically. Without `replace`, FileExistsError if `path` exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600 from the start
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # atomic, and refuses an existing file (the first writer wins)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def read_private(path: Path, setting: str) -> bytes:
    """The contents of `path`; ConfigError (keyed by `setting`) if its group or others have any access to it."""
    with open(path, "rb") as handle:
        mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)  # the file read, not one swapped in after a check
        if mode & 0o077:
            raise ConfigError(f"{path} is readable by others (mode {mode:o}); run `chmod 600 {path}`", key=setting)
        return handle.read()
