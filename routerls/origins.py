"""Where a setting came from: `layers.py` records each key's (file, line) as it reads YAML, and
both it (for config errors) and `trust.py` (for keys an untrusted workspace may not set) name
the nearest located key when the exact one has none."""

from __future__ import annotations

from collections.abc import Mapping


def nearest_origin(origins: Mapping[str, tuple[str, int | None]], path: str) -> tuple[str, int | None] | None:
    """The origin of `path` (`tiers.cheap.models[0].model`), or of its nearest located ancestor."""
    while True:
        if path in origins:  # an empty key (YAML `?` or `"": x`) is located too
            return origins[path]
        if not path:
            return None
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
