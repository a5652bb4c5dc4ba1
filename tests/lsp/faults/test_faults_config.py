"""The config file changes under the running server: deleted, or made invalid; the last good
config stays in force and the error names the file."""

from __future__ import annotations

import pytest
from lsprotocol import types as T
from server_session import Reply, Session

from .matrix import FIXED, SOURCE, _args, _configure

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def test_config_file_deleted_while_running_keeps_the_last_good_config(session: Session):
    config = session.root.parent / "routerls-test.yaml"
    saved = config.read_text(encoding="utf-8")
    before = len(session.client.messages)
    config.unlink()
    try:
        _configure(session)
        session.models.reset()
        session.models.script(Reply(text=FIXED), model="gpt-4o")
        uri = session.open("deleted_config.py", SOURCE)
        result = await session.run(_args(uri))
        assert result["state"] == "done" and result["model"] == "gpt-4o", result
        errors = [m.message for m in session.client.messages[before:] if m.type == T.MessageType.Error]
        assert any(str(config) in m and "cannot read config file" in m and "last good" in m for m in errors)
    finally:
        config.write_text(saved, encoding="utf-8")
        _configure(session)


async def test_config_file_made_invalid_while_running_keeps_the_last_good_config(session: Session):
    config = session.root.parent / "routerls-test.yaml"
    saved = config.read_text(encoding="utf-8")
    before = len(session.client.messages)
    config.write_text(saved + "tiers: [unclosed\n", encoding="utf-8")
    try:
        _configure(session)
        session.models.reset()
        session.models.script(Reply(text=FIXED), model="gpt-4o")
        uri = session.open("invalid_config.py", SOURCE)
        result = await session.run(_args(uri))
        assert result["state"] == "done" and result["model"] == "gpt-4o", result
        errors = [m.message for m in session.client.messages[before:] if m.type == T.MessageType.Error]
        assert any(f"{config}:" in m and "YAML syntax error" in m for m in errors), errors
    finally:
        config.write_text(saved, encoding="utf-8")
        _configure(session)
