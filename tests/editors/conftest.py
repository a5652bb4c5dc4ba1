"""Every test in this folder starts a real editor or browser, so each is marked `editor` here
rather than in each file; the quick suite (`-m "not slow and not real_model and not editor"`)
leaves the folder out."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.editor)
