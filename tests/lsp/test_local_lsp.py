"""End to end through an editor: `routerls serve` starts the embedded runtime on the first local
request, a real Gemma docstring and a real SmolLM2 format arrive as edits, the document still
parses, and the second request reuses the runtime the first one started.

Skipped, with the reason, when `routerls[local]` is not installed.
"""

from __future__ import annotations

import ast
import json
import socket

import pytest
import pytest_asyncio
from lsprotocol import types as T
from server_session import Session, start_session

from routerls.backends.local import models, runtime

MISSING = [m.package for m in models.EMBEDDED.values() if models.package_dir(m.module) is None]
pytestmark = [
    pytest.mark.real_model,
    pytest.mark.skipif(not models.runtime_installed() or bool(MISSING),
                       reason="routerls[local] is not installed; run `bash scripts/install-local.sh`"),
    pytest.mark.asyncio(loop_scope="module"),
]

GEMMA, SMOL = "gemma-3-270m-q4_k_m.gguf", "SmolLM2-135M-Instruct.Q4_1.gguf"
SOURCE = """\
def rectangle_area(width, height):
    return width * height


x=[1,2,3]
for i in x :
   print( i*2 )
"""
AREA = T.Range(T.Position(0, 0), T.Position(2, 0))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(tmp_path_factory):
    port = _free_port()
    base = f"http://127.0.0.1:{port}/v1"
    free = {"input_per_mtok": 0.0, "output_per_mtok": 0.0}
    options = {"routerls": {"tiers": {"local": {"models": [
        {"model": f"openai/{GEMMA}", "api_base": base, "style": "completion", "timeout_s": 60, "price": free},
        {"model": f"openai/{SMOL}", "api_base": base, "timeout_s": 60, "price": free}]}}}}
    s = await start_session(tmp_path_factory.mktemp("local-lsp"), initialization_options=options,
                            extra_env={"ROUTERLS_LOCAL_IDLE_S": "120"})
    s.port = port
    yield s
    state = s.data / "local" / f"runtime-{port}.json"
    try:
        if state.exists():
            runtime._terminate(json.loads(state.read_text())["pid"])
    finally:
        await s.stop()


def _runtime_pid(session: Session) -> int:
    return json.loads((session.data / "local" / f"runtime-{session.port}.json").read_text())["pid"]


async def _run(session: Session, uri: str, rng: T.Range, action: str, tier: str | None = None):
    offered = await session.code_actions(uri, rng)
    chosen = next(a for a in offered if a.command.arguments[0]["action"] == action)
    args = dict(chosen.command.arguments[0])
    if tier:
        args["tier"] = tier
    result = await session.run(args)
    status = await session.wait_status(result["state"], timeout=90)
    return chosen, result, status


async def test_docstring_runs_on_the_runtime_started_for_it(session: Session):
    uri = session.open("shapes.py", SOURCE)
    assert not (session.data / "local").exists() or not list((session.data / "local").glob("*.json"))
    chosen, result, status = await _run(session, uri, AREA, "docstring")
    assert chosen.title == f"AI: Add docstring (local · {GEMMA})"
    assert result["state"] == "done", json.dumps([result, status])
    assert (status["tier"], status["model"], status["costUsd"]) == ("local", GEMMA, 0.0)
    text = session.text(uri)
    tree = ast.parse(text)
    assert ast.get_docstring(tree.body[0])
    assert text.replace(f'    """{ast.get_docstring(tree.body[0])}"""\n', "", 1) == SOURCE
    session.first_pid = _runtime_pid(session)


async def test_format_reuses_the_runtime_and_keeps_the_meaning(session: Session):
    uri = session.uri("shapes.py")
    before = session.text(uri)
    first = before.splitlines().index("x=[1,2,3]")  # one line lower now: the docstring came in
    loop = T.Range(T.Position(first, 0), T.Position(first + 3, 0))
    # `tier: local` as a user's @local would: python's `format` otherwise goes to the tools tier
    _, result, status = await _run(session, uri, loop, "format", tier="local")
    after = session.text(uri)
    # a 135M model's layout is often not what ruff would write: then the answer is rejected
    # (the checks say so) and the document is left as it was; either way the meaning is kept
    if result["state"] == "done":
        assert (status["tier"], status["model"]) == ("local", SMOL)
        assert after != before
    else:
        assert f"{SMOL}'s answer was rejected" in result["message"], json.dumps([result, status])
        assert after == before
    assert ast.dump(ast.parse(after)) == ast.dump(ast.parse(before))
    assert _runtime_pid(session) == session.first_pid
    rows = session.ledger_rows()
    smol = "ok" if result["state"] == "done" else "bad_output"
    assert [(r["tier"], r["model"], r["outcome"]) for r in rows if r["tier"] == "local"] == [
        ("local", f"openai/{GEMMA}", "ok"), ("local", f"openai/{SMOL}", smol)]
