"""Where routerls keeps its files: one data dir for the ledger, trust store, local runtime and
kept results, so every part (and every test, through `ROUTERLS_DATA_DIR`) agrees on it."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """`ROUTERLS_DATA_DIR`, else the platform's user data dir."""
    env = os.environ.get("ROUTERLS_DATA_DIR")
    if env:
        return Path(env)
    import platformdirs  # only when needed: it is the one import here that costs start-up time

    return Path(platformdirs.user_data_dir("routerls"))
