"""The typed settings: every config class, and what each one's values must be.

Each class says what is wrong with its own values next to its fields (`problems()`: key below
it, message), and `Config.problems()` adds the names one part gives another (tiers, tasks).
Where the data comes from — the layered files and editor settings, each value with its file
and line — and how it is structured into these classes is `layers.py`, which raises the first
problem as one `ConfigError`: `file:line: key: what is wrong (what is allowed)`.
"""

from __future__ import annotations

import functools
import re
import shlex
import typing
from collections.abc import Collection, Iterator
from typing import Any

import attrs

STRATEGIES = ("cost", "balanced", "quality")
ON_EXCEED = ("downgrade", "block", "warn")
CLASSIFIERS = ("none", "embeddings")
RESULTS = ("replace", "insert_above", "new_file", "markdown")
STYLES = ("chat", "completion")
CHECK_TESTS = ("auto", "off")
INPUTS = ("stdin", "arg")
COMMAND_PROVIDER = "command"  # litellm provider name of `commands:` models (routerls/backends/command.py)


def model_id(name: str) -> str:
    """The litellm model id of the command model `name`."""
    return f"{COMMAND_PROVIDER}/{name}"


class ConfigError(Exception):
    """One bad setting, located: `file:line: key: message`."""

    def __init__(self, message: str, file: str = "<config>", line: int | None = None, key: str = ""):
        self.file, self.line, self.key, self.message = file, line, key, message
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


# --- what the values must be: each class's `problems()` yields (key below it, what is wrong) --

Problems = Iterator[tuple[str, str]]


def _under(prefix: str, problems: Problems) -> Problems:
    """A part's problems, keyed from the whole: `models[0]` and `input` → `models[0].input`."""
    for key, message in problems:
        yield (f"{prefix}{key}" if key.startswith("[") else f"{prefix}.{key}") if key else prefix, message


def _unknown(what: str, value: Any, allowed: Collection[str]) -> str:
    return f"unknown {what} {value!r}; allowed: {', '.join(allowed)}"


def _tier_refs(obj: Any, names: tuple[str, ...], tiers: Collection[str]) -> Problems:
    for name in names:
        value = getattr(obj, name)
        if value is not None and value not in tiers:
            yield name, _unknown("tier", value, tiers)


def _bad_regex(pattern: str) -> str | None:
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"bad regular expression: {exc}"
    return None


def _bad_command_line(command: str) -> str | None:
    try:
        if shlex.split(command):
            return None
        problem = "it is empty"
    except ValueError as exc:
        problem = str(exc)
    return f'give a command line, e.g. "npm test" ({problem})'


@attrs.frozen
class Price:
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0

    def problems(self) -> Problems:
        if min(self.input_per_mtok, self.output_per_mtok) < 0:
            yield "", "prices must be 0 or more"


@attrs.frozen
class ModelEntry:
    """One model of a tier: a litellm model id, or a command-line program (`command`), whose
    answers come from its standard output (see `command.py`)."""

    model: str = ""
    api_base: str | None = None
    api_key_env: str | None = None
    timeout_s: float | None = None
    price: Price | None = None
    context_window: int | None = None
    style: str = "chat"
    command: tuple[str, ...] | None = None
    label: str | None = None
    input: str = "stdin"
    max_calls_per_day: int | None = None

    @property
    def name(self) -> str:
        """The short name users see in titles: `claude-haiku-4-5`, not the provider path."""
        return self.label or self.model.rsplit("/", 1)[-1]

    def problems(self) -> Problems:
        if self.command is not None and (not self.command or not self.command[0]):
            yield "command", "give the program, then its arguments: [claude, -p]"
        if not self.model and not self.command:
            yield "", "a model entry needs `model` (a litellm id) or `command` (a program)"
        if self.input not in INPUTS:
            yield "input", _unknown("input", self.input, INPUTS)
        if self.max_calls_per_day is not None and self.max_calls_per_day < 0:
            yield "max_calls_per_day", "must be 0 or more"
        if self.style not in STYLES:
            yield "style", _unknown("style", self.style, STYLES)
        if self.timeout_s is not None and self.timeout_s <= 0:
            yield "timeout_s", "must be greater than 0"
        if self.price is not None:
            yield from _under("price", self.price.problems())


@attrs.frozen
class Tier:
    models: tuple[ModelEntry, ...] = ()

    def problems(self) -> Problems:
        if not self.models:
            yield "models", "a tier needs at least one model"
        for i, entry in enumerate(self.models):
            yield from _under(f"models[{i}]", entry.problems())


@attrs.frozen
class Rule:
    match: str | None = None
    min_tokens: int | None = None
    tier: str | None = None
    at_least: str | None = None

    def problems(self, tiers: Collection[str]) -> Problems:
        if self.match is None and self.min_tokens is None:
            yield "", "a rule needs `match` (a regex) or `min_tokens`"
        if (self.tier is None) == (self.at_least is None):
            yield "", "a rule sets exactly one of `tier` or `at_least`"
        if self.match is not None and (bad := _bad_regex(self.match)):
            yield "match", bad
        if self.min_tokens is not None and self.min_tokens < 0:
            yield "min_tokens", "must be 0 or more"
        yield from _tier_refs(self, ("tier", "at_least"), tiers)


@attrs.frozen
class Budgets:
    daily_usd: float | None = None
    monthly_usd: float | None = None
    on_exceed: str = "downgrade"

    def problems(self) -> Problems:
        for key in ("daily_usd", "monthly_usd"):
            value = getattr(self, key)
            if value is not None and value < 0:
                yield key, f"budget must be 0 or more, got {value}"
        if self.on_exceed not in ON_EXCEED:
            yield "on_exceed", _unknown("value", self.on_exceed, ON_EXCEED)


@attrs.frozen
class GatewaySettings:
    timeout_s: float = 60.0
    retries: int = 2
    backoff_s: float = 0.5
    max_output_tokens: int = 2048

    def problems(self) -> Problems:
        if self.timeout_s <= 0 or self.retries < 0 or self.backoff_s < 0 or self.max_output_tokens <= 0:
            yield "", "timeout_s and max_output_tokens must be > 0; retries, backoff_s >= 0"


@attrs.frozen
class Escalate:
    """How far a code result that fails its checks may climb: `max_steps` tiers up, or the
    per-task number in `tasks` (0 turns escalation off for that task)."""

    max_steps: int = 1
    tasks: dict[str, int] = attrs.field(factory=dict)

    def steps_for(self, task: str) -> int:
        return self.tasks.get(task, self.max_steps)

    def problems(self) -> Problems:
        for key, steps in [("max_steps", self.max_steps), *((f"tasks.{t}", n) for t, n in self.tasks.items())]:
            if steps < 0:
                yield key, "must be 0 or more"


@attrs.frozen
class Debate:
    """Critique-and-revise for a markdown task: `draft` writes, `revise` critiques and rewrites
    (a cheap draft and a frontier revision, or the reverse)."""

    draft: str
    revise: str

    def problems(self, tiers: Collection[str]) -> Problems:
        return _tier_refs(self, ("draft", "revise"), tiers)


@attrs.frozen
class Hover:
    explain: bool = False


@attrs.frozen
class Route:
    """How free-text instructions are read besides the rules: `embeddings` maps an instruction to
    a tier by its nearest labelled examples (classifier.py; needs `routerls[classifier]`).

    `learn: on` moves a task class between tiers by what this workspace's user keeps
    (learning.py): down when the cheaper tier's estimate is at least `learn_target` with
    `learn_min_evidence` observations (eval's prior counts), up when the tier's falls below it.
    An applied edit untouched for `learn_window_s` seconds counts as kept."""

    classifier: str = "none"
    learn: bool = False  # YAML's on/off are booleans
    learn_target: float = 0.9
    learn_min_evidence: float = 10.0
    learn_window_s: float = 120.0

    def problems(self) -> Problems:
        if self.classifier not in CLASSIFIERS:
            yield "classifier", _unknown("classifier", self.classifier, CLASSIFIERS)
        if not 0 < self.learn_target <= 1:
            yield "learn_target", f"give a fraction in (0, 1], got {self.learn_target}"
        if self.learn_min_evidence < 0 or self.learn_window_s <= 0:
            yield "", "learn_min_evidence must be 0 or more and learn_window_s more than 0"


@attrs.frozen
class LedgerSettings:
    store_prompts: bool = False


@attrs.frozen
class Redact:
    """Secrets found in a prompt are replaced before it goes to a tier other than `local`;
    `patterns` are extra regexes (group 1, else the whole match, is the secret)."""

    enabled: bool = True
    patterns: tuple[str, ...] = ()

    def problems(self) -> Problems:
        for i, pattern in enumerate(self.patterns):
            if bad := _bad_regex(pattern):
                yield f"patterns[{i}]", bad


@attrs.frozen
class Limits:
    """Bounds on untrusted input: a file read from disk (a URI the editor never opened, a file
    named on the command line) larger than `max_file_bytes` is refused (files.py)."""

    max_file_bytes: int = 2 * 1024 * 1024

    def problems(self) -> Problems:
        if self.max_file_bytes <= 0:
            yield "max_file_bytes", "must be greater than 0 (bytes)"


@attrs.frozen
class ChecksSettings:
    """How a code result is verified beyond parsing (see checks/): `tests: auto` runs the
    project's tests that exercise the edited module before and after the edit on a scratch
    copy; `test_command` replaces pytest per language (`{file}` is the edited file);
    `lint_command` is the project's linter, run before and after (nothing new may appear)."""

    tests: str = "auto"  # auto | off
    timeout_s: float = 20.0
    test_command: dict[str, str] = attrs.field(factory=dict)  # language id → command line
    lint_command: dict[str, str] = attrs.field(factory=dict)  # language id → command line
    max_copy_mb: float = 50.0

    def problems(self) -> Problems:
        if self.tests not in CHECK_TESTS:
            yield "tests", _unknown("value", self.tests, CHECK_TESTS)
        for key in ("timeout_s", "max_copy_mb"):
            if getattr(self, key) <= 0:
                yield key, "must be greater than 0"
        for key, commands in (("test_command", self.test_command), ("lint_command", self.lint_command)):
            for language, command in commands.items():
                if bad := _bad_command_line(command):
                    yield f"{key}.{language}", bad


@attrs.frozen
class UserAction:
    name: str
    title: str
    task: str
    prompt: str
    result: str = "replace"

    def problems(self, tasks: Collection[str]) -> Problems:
        if self.result not in RESULTS:
            yield "result", _unknown("result", self.result, RESULTS)
        if self.task not in tasks:
            yield "task", _unknown("task", self.task, tasks)
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", self.name):
            yield "name", "use lowercase letters, digits, '-' and '_'"


@attrs.frozen
class ToolEntry:
    """A program of the `tools` tier: the document on stdin, the result on stdout.

    `{path}`, `{language}` and `{codes}` (the diagnostic codes to fix) in the arguments are
    filled in. `fixable`, for fix-type tools, prints ruff-style JSON findings so the router can
    tell whether the tool fixes every diagnostic in the range.
    """

    name: str
    command: tuple[str, ...]
    fixable: tuple[str, ...] | None = None
    timeout_s: float = 10.0

    def problems(self) -> Problems:
        if not self.command:
            yield "command", "a tool needs a command (a list: program, then arguments)"
        if self.timeout_s <= 0:
            yield "timeout_s", "must be greater than 0"


@attrs.frozen
class Ignored:
    """A workspace setting left out because it needs trust (see `trust.py`)."""

    path: str  # dotted, as in the file: `tiers.cheap.models[0].api_base`
    file: str
    line: int | None
    why: str  # what the key could do: "runs a program", …

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


@attrs.frozen
class WorkspaceState:
    """What the workspace layer was, as loaded: its file, the sha256 of the exact bytes read
    (so trusting it later trusts what was shown), and the settings left out for want of trust."""

    file: str | None = None
    digest: str | None = None
    trusted: bool = False
    ignored: tuple[Ignored, ...] = ()


INTERNAL = {"internal": True}  # metadata of Config fields that are not settings


@attrs.frozen
class Config:
    strategy: str = "balanced"
    tiers: dict[str, Tier] = attrs.field(factory=dict)
    tasks: dict[str, str] = attrs.field(factory=dict)
    rules: tuple[Rule, ...] = ()
    budgets: Budgets = Budgets()
    gateway: GatewaySettings = GatewaySettings()
    escalate: Escalate = Escalate()
    debate: dict[str, Debate] = attrs.field(factory=dict)  # task → its debate; absent: one model
    hover: Hover = Hover()
    route: Route = Route()
    ledger: LedgerSettings = LedgerSettings()
    redact: Redact = Redact()
    limits: Limits = Limits()
    checks: ChecksSettings = ChecksSettings()
    local_only: tuple[str, ...] = (".env*", "*.pem", "secrets/**")  # globs kept on this machine
    actions: tuple[UserAction, ...] = ()
    tools: dict[str, dict[str, ToolEntry]] = attrs.field(factory=dict)  # action → language → tool
    # where each setting came from, for errors found after loading; not part of equality
    origins: dict[str, tuple[str, int | None]] = attrs.field(factory=dict, eq=False, repr=False,
                                                             metadata=INTERNAL)
    workspace: WorkspaceState = attrs.field(factory=WorkspaceState, eq=False, repr=False, metadata=INTERNAL)

    @property
    def tier_order(self) -> tuple[str, ...]:
        return tuple(self.tiers)

    def tier_index(self, tier: str) -> int:
        return self.tier_order.index(tier)

    def problems(self) -> Problems:
        """Each part's own problems, and the names one part gives another (tiers, tasks)."""
        if not self.tiers:
            yield "tiers", "at least one tier is needed"
            return
        if "tools" in self.tiers:
            yield "tiers.tools", "`tools` is the built-in tier of programs; configure it under `tools:`"
        for action, by_language in self.tools.items():
            for language, tool in by_language.items():
                yield from _under(f"tools.{action}.{language}", tool.problems())
        if self.strategy not in STRATEGIES:
            yield "strategy", _unknown("strategy", self.strategy, STRATEGIES)
        for name, tier in self.tiers.items():
            yield from _under(f"tiers.{name}", tier.problems())
        for task, tier_name in self.tasks.items():
            if tier_name not in self.tiers:
                yield f"tasks.{task}", _unknown("tier", tier_name, self.tiers)
        for i, rule in enumerate(self.rules):
            yield from _under(f"rules[{i}]", rule.problems(self.tiers))
        for key in ("budgets", "route", "gateway", "escalate", "checks", "redact", "limits"):
            yield from _under(key, getattr(self, key).problems())
        for task, debate in self.debate.items():
            yield from _under(f"debate.{task}", debate.problems(self.tiers))
        seen: set[str] = set()
        for i, action in enumerate(self.actions):
            yield from _under(f"actions[{i}]", action.problems(self.tasks))
            if action.name in seen:
                yield f"actions[{i}].name", f"action {action.name!r} is defined twice"
            seen.add(action.name)


# --- the shape of the settings, for structuring (layers.py) and trust (trust.py) ----------

RENAMED: dict[type, dict[str, str]] = {ModelEntry: {"label": "name"}}  # field → its key in YAML


def settings_fields(cls: type) -> list[attrs.Attribute]:
    """The fields a user sets (not `Config.origins` or `Config.workspace`)."""
    return [f for f in attrs.fields(cls) if not f.metadata.get("internal")]


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """The annotations of a config class, resolved to types (`dict[str, Tier]`)."""
    return typing.get_type_hints(cls)
