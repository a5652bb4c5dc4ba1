"""Budgets under concurrency: twenty actions fired at once against a daily budget that admits
five. Each request reserves its estimate when it is routed and settles to the real cost when
the ledger has it, so the requests in flight see each other: spend never passes the budget by
more than one request's cost, and the rest are downgraded or refused as configured."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from lsprotocol import types as T
from server_session import Reply, Session, start_session

from routerls.context import gather
from routerls.text import Range

pytestmark = pytest.mark.asyncio(loop_scope="module")

SOURCE = "def first():\n    return 1\n\n\ndef second():\n    return 2\n"
FIXED = "```python\ndef second():\n    return 22\n```"
RANGE = {"start": {"line": 4, "character": 0}, "end": {"line": 6, "character": 0}}
PRICE = 100.0  # $ per million tokens, in and out, on mid
N = 20


def _settings(url: str, daily: float, on_exceed: str) -> dict:
    def model(name: str, price: float) -> dict:
        return {"model": f"openai/{name}", "api_base": url, "api_key_env": "ROUTERLS_TEST_KEY",
                "price": {"input_per_mtok": price, "output_per_mtok": price}}

    return {"tiers": {"cheap": {"models": [model("gpt-4o-mini", 0.0)]},
                      "mid": {"models": [model("gpt-4o", PRICE)]},
                      "frontier": {"models": [model("gpt-4-turbo", 2 * PRICE)]}},
            "budgets": {"daily_usd": daily, "monthly_usd": 1000.0, "on_exceed": on_exceed},
            "gateway": {"timeout_s": 20, "retries": 0, "backoff_s": 0}}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(tmp_path_factory):
    s = await start_session(tmp_path_factory.mktemp("budget"))
    yield s
    await s.stop()


def _estimate(session: Session, name: str) -> tuple[int, int, float]:
    """What the router estimates for one request: (tokens in, tokens out, $)."""
    rng = Range.of(4, 0, 6, 0)
    tokens = gather(SOURCE, rng, path=str(session.root / name), language_id="python").tokens
    out = max(256, tokens // 2)
    return tokens, out, (tokens + out) * PRICE / 1e6


def _spent(session: Session) -> float:
    return sum(r["cost_usd"] for r in session.ledger_rows())


async def _fire(session: Session, prefix: str) -> tuple[list[dict], float]:
    names = [f"{prefix}{i:02d}.py" for i in range(N)]
    estimates = [_estimate(session, n) for n in names]
    tokens, out, cost = max(estimates, key=lambda e: e[2])
    session.models.reset()
    # the real cost equals the estimate; slow, so all twenty are routed before any is settled
    session.models.default(Reply(text=FIXED, chunks=5, chunk_delay=0.2, prompt_tokens=tokens,
                                 completion_tokens=out))
    uris = [session.open(n, SOURCE) for n in names]
    results = await asyncio.wait_for(asyncio.gather(*(
        session.run({"action": "refactor", "uri": u, "version": 1, "range": RANGE}) for u in uris)), 60)
    return list(results), cost


async def test_twenty_at_once_with_a_budget_for_five_downgrade_the_rest(session: Session):
    _, _, cost = _estimate(session, "d00.py")
    budget = 5.5 * cost
    session.client.workspace_did_change_configuration(T.DidChangeConfigurationParams(
        settings={"routerls": _settings(session.models.url, budget, "downgrade")}))
    results, cost = await _fire(session, "d")
    assert [r["state"] for r in results] == ["done"] * N, results
    tiers = sorted(r["tier"] for r in results)
    assert tiers == ["cheap"] * 15 + ["mid"] * 5
    assert _spent(session) <= budget + cost
    assert sum(r.model == "gpt-4o" for r in session.models.requests) == 5
    downgraded = [s for s in session.statuses if s["state"] == "done" and s["tier"] == "cheap"]
    assert len(downgraded) == 15
    assert all("budget" in s["reason"] and "cheap instead of mid" in s["reason"] for s in downgraded)


async def test_twenty_at_once_with_block_refuse_the_rest_without_calling(session: Session):
    spent = _spent(session)
    _, _, cost = _estimate(session, "b00.py")
    budget = spent + 3.5 * cost  # room for three more
    session.client.workspace_did_change_configuration(T.DidChangeConfigurationParams(
        settings={"routerls": _settings(session.models.url, budget, "block")}))
    results, cost = await _fire(session, "b")
    states = sorted(r["state"] for r in results)
    assert states == ["done"] * 3 + ["error"] * 17, results
    refused = [r for r in results if r["state"] == "error"]
    assert all("refused" in r["message"] for r in refused)
    assert sum(r.model == "gpt-4o" for r in session.models.requests) == 3  # refused before any call
    assert _spent(session) <= budget + cost
