"""The fault matrix's one server: every file in this folder runs against the same `routerls serve`
(package scope), so the last file can check the ledger the whole matrix left behind."""

from __future__ import annotations

import pytest_asyncio
from server_session import start_session

from .matrix import BASE


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def session(tmp_path_factory):
    s = await start_session(tmp_path_factory.mktemp("faults"),
                            initialization_options={"routerls": BASE, "applyEditTimeoutS": 1.5})
    yield s
    await s.stop()
