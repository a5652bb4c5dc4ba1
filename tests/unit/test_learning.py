"""Learned routing without a server: the posterior, the router's `learned` stage, the outcome
tracker, the outcomes table on any ledger, and the CLI's `learn` and `report`."""

import json
import sqlite3

import attrs
import pytest

from routerls import learning
from routerls.config import Budgets, Rule
from routerls.layers import DEFAULTS_PATH, load_config
from routerls.ledger import Ledger, default_path
from routerls.outcomes import Applied, Tracker, changed_span
from routerls.router import Spend, route

PRICES = {"local": (0.0, 0.0), "cheap": (0.1, 0.4), "mid": (1.0, 5.0), "frontier": (3.0, 15.0)}


@pytest.fixture
def config():
    return load_config(files=[DEFAULTS_PATH])


def est(counts, prior=None, **kw):
    return learning.estimates(counts, prior, **kw)


# --- the posterior --------------------------------------------------------------------------

def test_uniform_prior_is_weak_and_observations_move_the_mean():
    e = est({}).get("fix", "cheap")
    assert (e.mean, e.evidence) == (0.5, 0.0)
    e = est({("fix", "cheap"): (19, 20)}).get("fix", "cheap")
    assert e.mean == pytest.approx(20 / 22) and e.evidence == 20


def test_eval_map_is_the_prior_worth_its_cases_up_to_a_cap():
    prior = learning.prior_from_eval([{"task": "fix", "tier": "cheap", "cases": 40, "passed": 38},
                                      {"task": "fix", "tier": "mid", "cases": 5, "passed": 5},
                                      {"task": "bad", "tier": "x", "cases": 0, "passed": 0}])
    cheap = est({}, prior).get("fix", "cheap")
    assert cheap.mean == pytest.approx(0.95) and cheap.evidence == pytest.approx(20)
    mid = est({}, prior).get("fix", "mid")
    assert mid.mean < 1.0 and mid.evidence == pytest.approx(5.5)  # never a certainty
    assert ("bad", "x") not in prior
    # what the user does here outweighs eval over time
    undone = est({("fix", "cheap"): (10, 40)}, prior).get("fix", "cheap")
    assert undone.mean < 0.5


def test_load_prior_reads_the_map_eval_leaves_and_survives_a_broken_one(tmp_path):
    assert learning.load_prior(tmp_path) == {}
    (tmp_path / learning.EVAL_MAP).write_text("{not json")
    assert learning.load_prior(tmp_path) == {}
    (tmp_path / learning.EVAL_MAP).write_text(json.dumps(
        {"rows": [{"task": "docstring", "tier": "local", "cases": 10, "passed": 10}]}))
    assert learning.load_prior(tmp_path)[("docstring", "local")][2:] == (10, 10)


# --- the router's stage --------------------------------------------------------------------

def test_moves_down_when_the_cheaper_tier_meets_the_target_and_says_so(config):
    d = route(config, "fix", learned=est({("fix", "cheap"): (19, 20)}))
    assert (d.tier, d.rule) == ("cheap", "route.learn")
    assert d.reason == "learned: cheap kept 19 of 20 fix edits here; cheap instead of mid"


def test_needs_enough_evidence(config):
    assert route(config, "fix", learned=est({("fix", "cheap"): (9, 9)})).tier == "mid"
    assert route(config, "fix", learned=est({("fix", "cheap"): (9, 9)}, min_evidence=9)).tier == "cheap"


def test_keeps_going_down_while_each_cheaper_tier_meets_the_target(config):
    d = route(config, "tests", learned=est({("tests", "cheap"): (30, 30), ("tests", "local"): (20, 20)}))
    assert d.tier == "local" and d.reason.endswith("local instead of mid")


def test_moves_up_when_the_tier_falls_below_the_target(config):
    d = route(config, "fix", learned=est({("fix", "mid"): (12, 20)}))
    assert d.tier == "frontier" and d.reason == "learned: mid kept 12 of 20 fix edits here; frontier instead of mid"


def test_below_target_cheaper_tier_or_no_evidence_changes_nothing(config):
    d = route(config, "fix", learned=est({("fix", "cheap"): (15, 20), ("fix", "mid"): (20, 20)}))
    assert (d.tier, d.rule) == ("mid", "tasks.fix")
    assert route(config, "fix", learned=est({})).reason == route(config, "fix").reason


def test_never_past_an_explicit_choice_or_a_rule_with_a_tier(config):
    learned = est({("explain", "cheap"): (0, 30), ("explain", "mid"): (30, 30), ("fix", "cheap"): (30, 30)})
    assert route(config, "fix", tier="mid", learned=learned).tier == "mid"
    assert route(config, "fix", instruction="@mid please", learned=learned).tier == "mid"
    # rule 1 of the defaults: "trade-offs" → frontier, whatever was learned
    d = route(config, "explain", instruction="the trade-offs?", learned=learned)
    assert d.tier == "frontier" and d.rule == "rules[0]"


def test_never_below_a_rules_at_least(config):
    c = attrs.evolve(config, rules=[Rule(match="module", at_least="mid")])
    d = route(c, "fix", instruction="the module", learned=est({("fix", "cheap"): (30, 30)}))
    assert d.tier == "mid"


def test_the_budget_still_has_the_last_word(config):
    c = attrs.evolve(config, budgets=Budgets(daily_usd=2.0, monthly_usd=20.0, on_exceed="downgrade"))
    by_model = {m.model: PRICES[t] for t, tier in c.tiers.items() for m in tier.models}
    d = route(c, "fix", tokens=2000, expected_output_tokens=1000, spend=Spend(1.999, 5.0),
              price_of=lambda e: by_model.get(e.model), learned=est({("fix", "mid"): (0, 30)}))
    assert d.tier == "cheap" and d.rule == "budgets.on_exceed"


def test_eval_prior_alone_can_move_a_task_down(config):
    prior = learning.prior_from_eval([{"task": "fix", "tier": "cheap", "cases": 20, "passed": 20}])
    d = route(config, "fix", learned=est({}, prior))
    assert d.tier == "cheap" and d.reason == "learned: cheap passed 20 of 20 in eval; cheap instead of mid"


# --- the outcome tracker -------------------------------------------------------------------

BEFORE = "def f():\n    pass\n\n\ndef g():\n    return 1\n"
AFTER = BEFORE.replace("    pass\n", '    """Do f."""\n    pass\n')


def applied(deadline=10.0):
    return Applied.of("r1", "file:///a.py", "docstring", "docstring", "cheap", BEFORE, AFTER, deadline)


def test_changed_span_finds_the_one_differing_span():
    assert changed_span("abcdef", "abXYef") == (2, 4, 4)
    assert changed_span("aaa", "aaaa") == (3, 3, 4)
    a = applied()
    assert AFTER[a.start:a.end_after].strip().startswith('"""Do f."""')
    assert (a.first_line, a.last_line) == (1, 2)


def test_undo_is_seen_at_once_even_after_edits_elsewhere():
    t = Tracker()
    t.watch(applied())
    assert t.changed("file:///a.py", AFTER) == []
    assert t.changed("file:///a.py", AFTER + "x = 1\n") == []  # elsewhere
    [(_, outcome)] = t.changed("file:///a.py", BEFORE + "x = 1\n")
    assert outcome == "undone" and t.pending == []


def test_typing_inside_is_reworked_when_the_window_ends_and_elsewhere_is_kept():
    t = Tracker()
    t.watch(applied(deadline=5.0))
    t.changed("file:///a.py", AFTER.replace("Do f.", "Do f, then g."))
    assert t.expire(4.0) == []
    [(_, outcome)] = t.expire(5.0)
    assert outcome == "reworked"
    t.watch(applied(deadline=5.0))
    t.changed("file:///a.py", AFTER.replace("return 1", "return 2"))
    assert [o for _, o in t.expire(6.0)] == ["kept"]


def test_same_action_on_overlapping_lines_is_a_rerun():
    t = Tracker()
    t.watch(applied())
    assert t.rerun("file:///a.py", "fix", 0, 3) == []  # another action
    assert t.rerun("file:///a.py", "docstring", 4, 6) == []  # other lines
    assert [o for _, o in t.rerun("file:///a.py", "docstring", 0, 1)] == ["rerun"]


def test_another_actions_edit_over_the_same_lines_ends_the_earlier_one_as_it_stands():
    t = Tracker()
    t.watch(applied())
    assert t.superseded("file:///a.py", 4, 5) == []  # other lines
    assert [o for _, o in t.superseded("file:///a.py", 2, 3)] == ["kept"]


# --- the outcomes table --------------------------------------------------------------------

def test_outcomes_table_joins_an_old_ledger_and_counts_per_workspace(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    with Ledger(path) as ledger:
        pass
    db = sqlite3.connect(path)
    db.execute("DROP TABLE outcomes")  # a ledger from before learning
    db.commit()
    db.close()
    with Ledger(path) as ledger:
        ledger.record_outcome("r1", "/ws", "fix", "fix", "cheap", "kept")
        ledger.record_outcome("r2", "/ws", "fix", "fix", "cheap", "undone")
        ledger.record_outcome("r3", "/other", "fix", "fix", "cheap", "kept", target="t")
        ledger.record_outcome("r4", "/ws", "fix", "fix", "cheap", "pending")
        assert ledger.outcome_counts("/ws") == {("fix", "cheap"): (1, 2, 1)}
        assert ledger.settle_outcome("r4", "cheap", "reworked") and not ledger.settle_outcome("r4", "cheap", "kept")
        assert ledger.outcome_counts("/ws") == {("fix", "cheap"): (1, 3, 0)}
        from datetime import UTC, datetime, timedelta

        assert ledger.mark_rerun("/other", "fix", "t", datetime.now(UTC) - timedelta(minutes=1)) == "r3"
        assert ledger.outcome_counts("/other") == {("fix", "cheap"): (0, 1, 0)}
        assert ledger.forget_outcomes("/ws") == 3 and ledger.outcome_counts("/ws") == {}
        assert ledger.rows() == []  # the calls table is untouched


def test_cli_learn_shows_the_move_and_reset_forgets(tmp_path, capsys, monkeypatch):
    from routerls.cli import main
    from routerls.learning import workspace_key

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("ROUTERLS_CONFIG", raising=False)
    ws = tmp_path / "ws"
    ws.mkdir()
    with Ledger(default_path()) as ledger:
        for i in range(20):
            ledger.record_outcome(f"r{i}", workspace_key(ws), "fix", "fix", "cheap", "kept" if i else "undone")
    assert main(["learn", str(ws), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    fix = next(t for t in out["tasks"] if t["task"] == "fix")
    assert fix["tier"] == "cheap" and fix["reason"].startswith("learned: cheap kept 19 of 20")
    assert main(["report", "--json"]) == 0
    kept = json.loads(capsys.readouterr().out)["kept"]
    assert kept == [{"task": "fix", "tier": "cheap", "total": 20, "kept_rate": 0.95, "kept": 19, "undone": 1,
                     "reworked": 0, "rerun": 0, "rejected": 0}]
    assert main(["learn", str(ws), "--reset"]) == 0
    assert "forgot 20 outcome(s)" in capsys.readouterr().out
    with Ledger(default_path()) as ledger:
        assert ledger.outcome_counts(workspace_key(ws)) == {}


def test_an_untried_cheaper_tier_is_probed_one_request_in_n_and_the_reason_says_so(config):
    # mid meets the target; cheap is untried: 1 in 10 requests goes to cheap, the others stay
    tiers = [route(config, "fix", learned=est({("fix", "mid"): (n, n)})).tier for n in range(20, 30)]
    assert tiers.count("cheap") == 1 and tiers.count("mid") == 9
    d = route(config, "fix", learned=est({("fix", "mid"): (29, 29)}))
    assert d.tier == "cheap" and d.reason.startswith("learned: trying cheap on 1 in 10 fix requests")
    # a cheaper tier that is clearly worse is not probed, and probing can be turned off
    assert {route(config, "fix", learned=est({("fix", "mid"): (n, n), ("fix", "cheap"): (5, 20)})).tier
            for n in range(20, 30)} == {"mid"}
    assert route(config, "fix", learned=est({("fix", "mid"): (29, 29)}, probe_every=0)).tier == "mid"


def test_a_few_unlucky_outcomes_do_not_push_a_tier_up(config):
    assert route(config, "fix", learned=est({("fix", "mid"): (8, 10)})).tier == "mid"
    assert route(config, "fix", learned=est({("fix", "mid"): (12, 20)})).tier == "frontier"


# --- the CLI's --write runs ----------------------------------------------------------------

def test_cli_write_records_kept_a_repeat_makes_it_rerun_and_learning_moves_fix_up(project, model_server, capsys):
    from conftest import FIXED_LINES, SAMPLE

    from routerls.cli import main

    (project / ".routerls.yaml").write_text("route: {learn: on, learn_min_evidence: 2}\n")
    answer = f"```python\n{FIXED_LINES}```"
    model_server.script(answer, model="gpt-4o-mini")
    assert main(["run", "fix", "sample.py:3-9", "--write"]) == 0
    (project / "sample.py").write_text(SAMPLE)  # as if the user put it back by hand, then ran it again
    model_server.script(answer, model="gpt-4o-mini")
    assert main(["run", "fix", "sample.py:3-9", "--write"]) == 0
    with Ledger(default_path()) as ledger:
        assert sorted(o for _, _, o, _ in ledger.outcome_report()) == ["kept", "rerun"]
    capsys.readouterr()
    assert main(["route", "fix", "sample.py:3-9", "--json"]) == 0
    routed = json.loads(capsys.readouterr().out)
    assert routed["tier"] == "mid" and routed["rule"] == "route.learn"
    assert routed["reason"] == "learned: cheap kept 1 of 2 fix edits here; mid instead of cheap"
    # an answer that fails its checks counts against its tier
    model_server.script("I'm sorry, I can't help with that request.", model="gpt-4o")
    model_server.script(answer, model="gpt-4.1")
    (project / "sample.py").write_text(SAMPLE)
    assert main(["run", "fix", "sample.py:3-9", "--write"]) == 0
    with Ledger(default_path()) as ledger:
        cells = {(tier, o) for _, tier, o, _ in ledger.outcome_report()}
    assert {("mid", "rejected"), ("frontier", "kept")} <= cells


def test_a_pending_probe_is_not_repeated_while_its_outcome_is_awaited(config):
    d = route(config, "fix", learned=est({("fix", "mid"): (29, 29)}))
    assert d.tier == "cheap"  # the probe
    # the probe's edit is applied and pending: the next request stays on mid
    assert route(config, "fix", learned=est({("fix", "mid"): (29, 29), ("fix", "cheap"): (0, 0, 1)})).tier == "mid"
    # pending edits are not outcomes
    e = est({("fix", "cheap"): (0, 0, 3)}).get("fix", "cheap")
    assert (e.seen, e.pending, e.mean) == (0, 3, 0.5)
