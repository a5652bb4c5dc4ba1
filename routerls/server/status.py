"""What the server tells an editor about runs and spend: payloads and report text.

Pure: no LSP objects, no I/O, so the handlers stay wiring and these are testable on their own.
The payload field names are the protocol contract of DESIGN.md (`$/routerls/status`,
`routerls/spend`); change them only there first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from routerls.money import money

STATES = ("running", "done", "error", "cancelled")


@attrs.define
class SpendCache:
    """Spend numbers as last read from the ledger; refreshed after each run, never per request."""

    session_usd: float = 0.0
    today_usd: float = 0.0
    month_usd: float = 0.0
    saved_usd: float = 0.0

    @classmethod
    def of(cls, spend: Any) -> SpendCache:
        return cls(float(getattr(spend, "session_usd", 0.0) or 0.0),
                   float(getattr(spend, "today_usd", 0.0) or 0.0),
                   float(getattr(spend, "month_usd", 0.0) or 0.0),
                   float(getattr(spend, "saved_usd", 0.0) or 0.0))


def status_payload(state: str, *, action: str, task: str, tier: str | None, model: str | None,
                   reason: str, spend: SpendCache, input_tokens: int = 0, output_tokens: int = 0,
                   cost_usd: float = 0.0, saved_usd: float = 0.0, latency_ms: float = 0.0,
                   message: str | None = None) -> dict[str, Any]:
    """The `$/routerls/status` object, exactly the DESIGN.md fields (`message` only when set)."""
    assert state in STATES, state
    out: dict[str, Any] = {
        "state": state, "action": action, "task": task, "tier": tier or "", "model": model or "",
        "reason": reason, "inputTokens": int(input_tokens), "outputTokens": int(output_tokens),
        "costUsd": float(cost_usd), "sessionCostUsd": spend.session_usd,
        "todayCostUsd": spend.today_usd, "savedUsd": float(saved_usd),
        "latencyMs": round(float(latency_ms), 1),
    }
    if message:
        out["message"] = message
    return out


def spend_payload(spend: SpendCache, daily_usd: float | None, monthly_usd: float | None) -> dict[str, Any]:
    """The `routerls/spend` result."""
    return {"sessionCostUsd": spend.session_usd, "todayCostUsd": spend.today_usd,
            "monthCostUsd": spend.month_usd, "savedUsd": spend.saved_usd,
            "budget": {"dailyUsd": daily_usd, "monthlyUsd": monthly_usd}}


def report_markdown(rows: Iterable[Any], spend: SpendCache, by: str = "model") -> str:
    """A spend summary as a Markdown table (rows as `ledger.report` gives them)."""
    rows = list(rows)
    lines = [f"# routerls spend by {by}", "",
             f"| {by} | calls | tokens in | tokens out | cost | always-frontier | saved |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.key} | {r.calls} | {r.input_tokens} | {r.output_tokens} | "
                     f"{money(r.cost_usd)} | {money(r.counterfactual_usd)} | {money(r.saved_usd)} |")
    if not rows:
        lines.append(f"| (no calls yet) | 0 | 0 | 0 | {money(0)} | {money(0)} | {money(0)} |")
    total = sum(r.cost_usd for r in rows)
    saved = sum(r.saved_usd for r in rows)
    lines += ["", (f"Total {money(total)}, saved {money(saved)} against always-frontier. "
                   f"This session {money(spend.session_usd)}, today {money(spend.today_usd)}, "
                   f"this month {money(spend.month_usd)}.")]
    return "\n".join(lines) + "\n"
