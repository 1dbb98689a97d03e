"""Where the runtime keeps its state: `DTO_HOME` (default `~/.dto`), and the URLs of external servers."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

HOME_ENV: Final = "DTO_HOME"
DATABASE_URL_ENV: Final = "DATABASE_URL"
REDIS_URL_ENV: Final = "REDIS_URL"


def dto_home(env: Mapping[str, str] | None = None) -> Path:
    """The data folder: `$DTO_HOME`, else `~/.dto`. Tests and parallel local runs set their own."""
    env = os.environ if env is None else env
    return Path(env.get(HOME_ENV) or Path.home() / ".dto").expanduser()


def external_urls(env: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """(DATABASE_URL, REDIS_URL) when external servers are configured; None means embedded."""
    env = os.environ if env is None else env
    return env.get(DATABASE_URL_ENV) or None, env.get(REDIS_URL_ENV) or None
