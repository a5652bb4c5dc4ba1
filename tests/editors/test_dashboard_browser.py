"""The dashboard as a browser shows it: `routerls report --html` for `spend_seed`'s two weeks,
opened from file:// in Debian's headless Chromium (playwright-core from vscode-client/e2e, as
the code-server tests use it) in an offline context that refuses and logs any other request.
The figures are read from the page — bars per day and their tiers, tier shares, totals — and
compared with the seeded rows and with `routerls report --json` to the cent. The screenshot is
left in test-results/dashboard.png."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from spend_seed import CONFIG, DAYS, seed

from routerls.cli import main
from routerls.ledger import Ledger, default_path
from routerls.money import money

REPO = Path(__file__).resolve().parents[2]
PAGE_READER = REPO / "tests" / "support" / "dashboard_page.mjs"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
PLAYWRIGHT = REPO / "vscode-client" / "e2e" / "node_modules" / "playwright-core"
NODE = next((str(p) for p in (REPO / "vscode-client" / "e2e" / ".node24" / "bin" / "node",) if p.exists()),
            shutil.which("node"))
SHOTS = REPO / "test-results"

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and PLAYWRIGHT.exists() and NODE),
    reason="needs chromium, node and playwright-core (vscode-client/scripts/install-code-server.sh)")


def cents(x: float) -> int:
    return round(x * 100)


def test_the_dashboard_in_chromium_shows_the_seeded_figures_offline(tmp_path, monkeypatch, capsys):
    (tmp_path / ".routerls.yaml").write_text(CONFIG)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("ROUTERLS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    rows = seed(default_path().parent)
    with Ledger(default_path()) as ledger:  # applied edits: cheap fixes 3 of 4 kept, a mid fix kept
        for i, outcome in enumerate(["kept", "undone", "kept", "kept", "kept"]):
            ledger.record_outcome(f"o{i}", "/ws", "fix", "fix", "mid" if i == 4 else "cheap", outcome)
    page = tmp_path / "dashboard.html"
    assert main(["report", "--html", "--by", "day", "--out", str(page)]) == 0
    assert main(["report", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])

    SHOTS.mkdir(exist_ok=True)
    out, shot = tmp_path / "page.json", SHOTS / "dashboard.png"
    done = subprocess.run([NODE, str(PAGE_READER), str(page), str(out), str(shot)], capture_output=True,
                          text=True, timeout=120, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(out.read_text())

    # offline, and nothing but the page itself was asked for
    assert seen["requests"] == [page.as_uri()] and seen["refused"] == []
    assert seen["console"] == []  # no CSP violation, no error
    assert seen["styled"] == "820px"  # the style block ran under the page's policy (its nonce)

    # spend per day: one bar group per day of the two weeks, each tier's part as seeded
    expected: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        expected[r.ts.astimezone().date().isoformat()][r.tier] += r.cost_usd
    assert [p["period"] for p in seen["spend"]] == sorted(expected) and len(seen["spend"]) == DAYS
    for period in seen["spend"]:
        assert {b["tier"]: cents(b["usd"] * 100) for b in period["bars"]} == {
            t: cents(v * 100) for t, v in expected[period["period"]].items()}  # to a hundredth of a cent
        assert period["usd"] == pytest.approx(sum(expected[period["period"]].values()), abs=1e-9)
        drawn = [b for b in period["bars"] if b["usd"] > 0]
        assert drawn and all(b["height"] > 0 for b in drawn)
        assert all(b["height"] == 0 for b in period["bars"] if b["tier"] == "tools")  # $0
    tall = max(seen["spend"], key=lambda p: p["usd"])
    assert sum(b["height"] for b in tall["bars"]) > 100  # the highest day fills the chart
    # tiers have their colours (the same in both charts)
    fills = {b["tier"]: b["fill"] for p in seen["spend"] + seen["savings"] for b in p["bars"]}
    assert fills["tools"] == "rgb(0, 158, 115)" and fills["mid"] == "rgb(230, 159, 0)"
    # savings: the tools tier saves what its work would have cost on the frontier, every day
    for period in seen["savings"]:
        tools = next(b for b in period["bars"] if b["tier"] == "tools")
        assert tools["usd"] == pytest.approx(0.0042) and tools["height"] > 0

    # tier shares: answered requests, tools included, as --json counts them
    shares = {t["tier"]: t for t in seen["tiers"]}
    answered = {t: v["answered"] for t, v in report["tiers"].items() if v["answered"]}
    assert {t: s["requests"] for t, s in shares.items()} == answered == {
        "tools": 14, "cheap": 14, "mid": 19, "frontier": 10}
    assert sum(s["share"] for s in shares.values()) == pytest.approx(1.0)
    assert shares["mid"]["width"] > shares["tools"]["width"] > shares["frontier"]["width"]

    # the totals: equal to --json to the cent, written in the one money format
    totals = seen["totals"]
    for key, field in (("today", "today_usd"), ("month", "month_usd"), ("saved", "saved_all_usd"),
                       ("period", "total_usd"), ("period-saved", "saved_usd")):
        assert cents(totals[key]["usd"]) == cents(report[field]), key
        assert totals[key]["text"] == money(report[field]), key
    assert totals["period"]["usd"] == pytest.approx(sum(r.cost_usd for r in rows), abs=1e-9)

    # escalations and causes per task, top actions, budgets, one row per model
    tasks = {t["task"]: t for t in seen["tasks"]}
    assert (tasks["fix"]["requests"], tasks["fix"]["escalated"]) == (19, 5)
    assert "bad_output ×5" in tasks["fix"]["causes"] and "rate_limited ×3" in tasks["refactor"]["causes"]
    assert [a["action"] for a in seen["actions"]] == ["design", "fix", "refactor", "explain", "format"]
    assert seen["actions"][0]["width"] > seen["actions"][-2]["width"] > 0
    assert {(b["budget"], b["usd"], b["drawn"]) for b in seen["budgets"]} == {
        ("daily", 0.05, True), ("monthly", 1.0, False)}  # $1/month is far above $0.04 so far: named
    # what was kept, per task class and tier: as --json has it, the bar as long as the share
    kept = {(k["task"], k["tier"]): k for k in seen["kept"]}
    assert [(k["task"], k["tier"], k["kept"], k["total"]) for k in report["kept"]] == [
        (k["task"], k["tier"], k["kept"], k["total"]) for k in seen["kept"]] == [
        ("fix", "cheap", 3, 4), ("fix", "mid", 1, 1)]
    cheap, mid = kept[("fix", "cheap")], kept[("fix", "mid")]
    assert (cheap["rate"], cheap["text"], mid["text"]) == (0.75, "75%", "100%")
    assert mid["width"] > cheap["width"] > 0 and cheap["width"] == pytest.approx(0.75 * mid["width"], rel=0.02)
    assert cheap["fill"] == "rgb(0, 114, 178)" and mid["fill"] == "rgb(230, 159, 0)"
    assert sorted(seen["models"]) == ["Frontier-1", "rl-cheap", "rl-mid", "ruff 0.9.0"]
    assert shot.stat().st_size > 20_000
