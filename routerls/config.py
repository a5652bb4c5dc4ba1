"""Layered YAML configuration, structured into typed classes with cattrs.

Layers, low → high: the built-in `defaults.yaml`, the user file, the workspace `.routerls.yaml`,
`ROUTERLS_CONFIG`, then LSP settings. Dicts merge key by key and lists replace. Every value
remembers the file and line it came from, so one bad key anywhere yields one `ConfigError`
that says `file:line: key: what is wrong (what is allowed)`.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs
import yaml
from cattrs.gen import make_dict_structure_fn, override

STRATEGIES = ("cost", "balanced", "quality")
ON_EXCEED = ("downgrade", "block", "warn")
CLASSIFIERS = ("none", "embeddings")
RESULTS = ("replace", "insert_above", "new_file", "markdown")
STYLES = ("chat", "completion")
CHECK_TESTS = ("auto", "off")
COMMAND_PROVIDER = "command"  # litellm provider name of `commands:` models (routerls/backends/command.py)


def model_id(name: str) -> str:
    """The litellm model id of the command model `name`."""
    return f"{COMMAND_PROVIDER}/{name}"
# YAML 1.1 reads an unquoted on/off as a boolean; these settings take words, so the words come back
YAML_WORDS: dict[tuple[str, str], dict[bool, str]] = {("checks", "tests"): {False: "off", True: "auto"}}


class ConfigError(Exception):
    """One bad setting, located: `file:line: key: message`."""

    def __init__(self, message: str, file: str = "<config>", line: int | None = None, key: str = ""):
        self.file, self.line, self.key, self.message = file, line, key, message
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


@attrs.frozen
class Price:
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0


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


@attrs.frozen
class Tier:
    models: tuple[ModelEntry, ...] = ()


@attrs.frozen
class Rule:
    match: str | None = None
    min_tokens: int | None = None
    tier: str | None = None
    at_least: str | None = None


@attrs.frozen
class Budgets:
    daily_usd: float | None = None
    monthly_usd: float | None = None
    on_exceed: str = "downgrade"


@attrs.frozen
class GatewaySettings:
    timeout_s: float = 60.0
    retries: int = 2
    backoff_s: float = 0.5
    max_output_tokens: int = 2048


@attrs.frozen
class Escalate:
    """How far a code result that fails its checks may climb: `max_steps` tiers up, or the
    per-task number in `tasks` (0 turns escalation off for that task)."""

    max_steps: int = 1
    tasks: dict[str, int] = attrs.field(factory=dict)

    def steps_for(self, task: str) -> int:
        return self.tasks.get(task, self.max_steps)


@attrs.frozen
class Debate:
    """Critique-and-revise for a markdown task: `draft` writes, `revise` critiques and rewrites
    (a cheap draft and a frontier revision, or the reverse)."""

    draft: str
    revise: str


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


@attrs.frozen
class LedgerSettings:
    store_prompts: bool = False


@attrs.frozen
class Redact:
    """Secrets found in a prompt are replaced before it goes to a tier other than `local`;
    `patterns` are extra regexes (group 1, else the whole match, is the secret)."""

    enabled: bool = True
    patterns: tuple[str, ...] = ()


@attrs.frozen
class Limits:
    """Bounds on untrusted input: a file read from disk (a URI the editor never opened, a file
    named on the command line) larger than `max_file_bytes` is refused (files.py)."""

    max_file_bytes: int = 2 * 1024 * 1024


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


@attrs.frozen
class UserAction:
    name: str
    title: str
    task: str
    prompt: str
    result: str = "replace"


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


# --- structuring -------------------------------------------------------------------------

RENAMED: dict[type, dict[str, str]] = {ModelEntry: {"label": "name"}}  # field → its key in YAML


@functools.cache
def _converter() -> cattrs.Converter:
    """Built on first load, not at import: generating the structure functions costs ~10 ms."""
    conv = cattrs.Converter(forbid_extra_keys=True)

    def strict(kind: type) -> Any:
        def structure(value: Any, _: type) -> Any:
            if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
                raise ValueError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
            return value

        return structure

    for kind in (str, int, float, bool):
        conv.register_structure_hook(kind, strict(kind))
    conv.register_structure_hook(ModelEntry, make_dict_structure_fn(
        ModelEntry, conv, _cattrs_forbid_extra_keys=True,
        **{field: override(rename=raw) for field, raw in RENAMED[ModelEntry].items()}))
    for cls in (Price, Tier, Rule, Budgets, GatewaySettings, Escalate, Debate, Hover, Route,
                LedgerSettings, Redact, Limits, UserAction, ToolEntry, ChecksSettings):
        conv.register_structure_hook(cls, make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True))
    return conv


# --- YAML with line numbers --------------------------------------------------------------

class _Located:
    """Loads YAML into plain data and records `path → line` for every key."""

    def __init__(self, file: str):
        self.file = file
        self.lines: dict[str, int] = {}

    def load(self, text: str) -> Any:
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            # an unclosed bracket is noticed at the end of the file; point at where it opened
            mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            problem = getattr(exc, "problem", None) or str(exc)
            context = getattr(exc, "context", None)
            detail = f"{context}: {problem}" if context else problem
            raise ConfigError(f"YAML syntax error ({detail})", self.file, line) from None
        return {} if node is None else self._walk(node, "")

    def _walk(self, node: yaml.Node, path: str) -> Any:
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                sub = f"{path}.{key}" if path else key
                self.lines[sub] = key_node.start_mark.line + 1
                out[key] = self._walk(value_node, sub)
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                sub = f"{path}[{i}]"
                self.lines[sub] = item.start_mark.line + 1
                items.append(self._walk(item, sub))
            return items
        try:
            return yaml.SafeLoader(" ").construct_object(node, deep=True)  # type: ignore[arg-type]
        except yaml.YAMLError as exc:  # an unknown tag (`=`, `!!python/object`): a clear error
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(f"YAML value error ({problem})", self.file, node.start_mark.line + 1,
                              path) from None


def _parse_yaml(text: str, file: str) -> tuple[dict[str, Any], dict[str, tuple[str, int | None]]]:
    located = _Located(file)
    data = located.load(text)
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of settings", file, 1)
    return _words(data), {path: (file, line) for path, line in located.lines.items()}


def _words(layer: dict[str, Any]) -> dict[str, Any]:
    """`checks: {tests: off}` as written, not `False` (before trust compares it with `off`)."""
    for (section, key), words in YAML_WORDS.items():
        sub = layer.get(section)
        if isinstance(sub, dict) and isinstance(sub.get(key), bool):
            sub[key] = words[sub[key]]
    return layer


def _merge(base: dict[str, Any], over: Mapping[str, Any], origins: dict, layer_origins: dict,
           file: str, path: str = "") -> dict[str, Any]:
    """Lay `over` onto `base`: dicts merge, everything else replaces (and drops stale origins)."""
    out = dict(base)
    for key, value in over.items():
        sub = f"{path}.{key}" if path else key
        merged = isinstance(value, Mapping) and isinstance(out.get(key), dict)
        if merged:
            out[key] = _merge(out[key], value, origins, layer_origins, file, sub)
        else:
            for stale in [p for p in origins if p.startswith((sub + ".", sub + "["))]:
                del origins[stale]
            out[key] = value
            origins.update({p: w for p, w in layer_origins.items() if p.startswith((sub + ".", sub + "["))})
        origins[sub] = layer_origins.get(sub, (file, None))
    return out


# --- loading -----------------------------------------------------------------------------

DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "routerls" / "config.yaml"


def layer_files(workspace: Path | None) -> list[Path]:
    """The config files that exist, low → high (the defaults file first)."""
    files = [DEFAULTS_PATH, user_config_path()]
    if workspace is not None:
        files.append(workspace / ".routerls.yaml")
    env = os.environ.get("ROUTERLS_CONFIG")
    if env:
        files.append(Path(env))
    return [f for i, f in enumerate(files) if f.is_file() or (i == len(files) - 1 and env and f == Path(env))]


def load_config(workspace: Path | None = None, overrides: Mapping[str, Any] | None = None,
                files: list[Path] | None = None, *, workspace_settings: Mapping[str, Any] | None = None,
                is_trusted: Callable[[Path, str], bool] | None = None) -> Config:
    """Read every layer and structure the result; raises `ConfigError` on any bad setting.

    The workspace's layers — its `.routerls.yaml` and `workspace_settings` (the workspace part
    of editor settings) — lose the settings that need trust (`trust.py`) unless the user has
    trusted that file's exact content; `Config.workspace` says what was left out and where.
    """
    from routerls import trust

    data: dict[str, Any] = {}
    origins: dict[str, tuple[str, int | None]] = {}
    workspace_file = workspace / ".routerls.yaml" if workspace is not None else None
    state = WorkspaceState()
    for path in files if files is not None else layer_files(workspace):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read config file: {exc.strerror}", str(path)) from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", str(path)) from None
        layer, layer_origins = _parse_yaml(text, str(path))
        if workspace is not None and path == workspace_file and state.file is None:
            # the first time only: ROUTERLS_CONFIG naming the same file is the user's own choice
            digest = trust.digest(raw)
            kept, ignored = trust.filter_layer(layer, data, layer_origins, str(path))
            trusted = bool(ignored) and (is_trusted or trust.is_trusted)(workspace, digest)
            state = WorkspaceState(str(path), digest, trusted, () if trusted else ignored)
            layer = layer if trusted else kept
        data = _merge(data, layer, origins, layer_origins, str(path))
    if overrides:
        data = _merge(data, _words(_plain(overrides)), origins, {}, "LSP settings (routerls)")
    if workspace_settings:
        where = "workspace settings (routerls)"
        kept, ignored = trust.filter_layer(_words(_plain(workspace_settings)), data, {}, where)
        state = attrs.evolve(state, ignored=state.ignored + ignored)
        data = _merge(data, kept, origins, {}, where)
    return attrs.evolve(structure(data, origins), workspace=state)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _locate(origins: Mapping[str, tuple[str, int | None]], path: str) -> tuple[str, int | None]:
    """The origin of `path`, or of its nearest located ancestor."""
    if path in origins:
        return origins[path]
    probe = path
    while probe:
        if probe in origins:
            return origins[probe]
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""
    return ("<config>", None)


def _fail(origins: Mapping, path: str, message: str) -> ConfigError:
    file, line = _locate(origins, path)
    return ConfigError(message, file, line, path)


def structure(data: dict[str, Any], origins: dict[str, tuple[str, int | None]] | None = None) -> Config:
    origins = origins if origins is not None else {}
    _check_keys(data, origins)
    try:
        fields = {f.name: f for f in attrs.fields(Config) if f.name != "origins"}
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            kwargs[name] = _structure_field(name, value, fields[name].type, origins)
        config = Config(**kwargs, origins=dict(origins))
    except TypeError as exc:
        raise ConfigError(str(exc)) from None
    _validate(config, origins)
    return _with_command_ids(config)


def _with_command_ids(config: Config) -> Config:
    """A command model's litellm id is `command/<name>` (its name defaults to the program)."""

    def fix(e: ModelEntry) -> ModelEntry:
        if e.command is None or e.model:
            return e
        label = e.label or Path(e.command[0]).name
        return attrs.evolve(e, model=model_id(label), label=label)

    tiers = {n: attrs.evolve(t, models=tuple(fix(e) for e in t.models)) for n, t in config.tiers.items()}
    return attrs.evolve(config, tiers=tiers)


_FIELD_TYPES: dict[str, Any] = {
    "strategy": str,
    "tiers": dict[str, Tier],
    "tasks": dict[str, str],
    "rules": tuple[Rule, ...],
    "budgets": Budgets,
    "gateway": GatewaySettings,
    "escalate": Escalate,
    "debate": dict[str, Debate],
    "hover": Hover,
    "route": Route,
    "ledger": LedgerSettings,
    "redact": Redact,
    "limits": Limits,
    "checks": ChecksSettings,
    "local_only": tuple[str, ...],
    "actions": tuple[UserAction, ...],
    "tools": dict[str, dict[str, ToolEntry]],
}


def _check_keys(data: Mapping[str, Any], origins: Mapping) -> None:
    for key in data:
        if key not in _FIELD_TYPES:
            raise _fail(origins, key, f"unknown setting {key!r}; allowed: {', '.join(_FIELD_TYPES)}")


def _structure_field(name: str, value: Any, _: Any, origins: Mapping) -> Any:
    kind = _FIELD_TYPES[name]
    container = getattr(kind, "__origin__", kind)
    if (container is dict or attrs.has(container)) and not isinstance(value, Mapping):
        raise _fail(origins, name, f"expected a mapping, got {type(value).__name__} {value!r}")
    if container is tuple and not isinstance(value, list):
        raise _fail(origins, name, f"expected a list, got {type(value).__name__} {value!r}")
    try:
        return _converter().structure(value, kind)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        # cattrs groups errors; report the first, located
        path, message = _first_error(exc, name)
        raise _fail(origins, path, message) from None


def _first_error(exc: BaseException, root: str) -> tuple[str, str]:
    """Walk a cattrs exception group down to one leaf: (dotted path, message)."""
    path = root
    while True:
        for note in getattr(exc, "__notes__", None) or []:
            if isinstance(note, cattrs.AttributeValidationNote):
                path = f"{path}.{note.name}"
            elif isinstance(note, cattrs.IterableValidationNote):
                index = note.index
                path = f"{path}.{index}" if isinstance(index, str) else f"{path}[{index}]"
        if not (isinstance(exc, cattrs.BaseValidationError) and exc.exceptions):
            break
        exc = exc.exceptions[0]
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        key = min(exc.extra_fields)
        allowed = ", ".join("name" if f.name == "label" else f.name for f in attrs.fields(exc.cl))
        return f"{path}.{key}", f"unknown key; allowed: {allowed}"
    if isinstance(exc, KeyError):
        return path, f"missing required key {exc.args[0]!r}"
    return path, str(exc) or type(exc).__name__


def _validate(config: Config, origins: Mapping) -> None:
    """Checks that need more than a type: names that must exist, regexes, ranges."""
    tiers = config.tier_order
    if not tiers:
        raise _fail(origins, "tiers", "at least one tier is needed")
    allowed_tiers = f"allowed: {', '.join(tiers)}"

    def tier_ok(value: str | None, path: str) -> None:
        if value is not None and value not in config.tiers:
            raise _fail(origins, path, f"unknown tier {value!r}; {allowed_tiers}")

    if "tools" in config.tiers:
        raise _fail(origins, "tiers.tools", "`tools` is the built-in tier of programs; configure it under `tools:`")
    for action_name, by_language in config.tools.items():
        for language, tool in by_language.items():
            path = f"tools.{action_name}.{language}"
            if not tool.command:
                raise _fail(origins, f"{path}.command", "a tool needs a command (a list: program, then arguments)")
            if tool.timeout_s <= 0:
                raise _fail(origins, f"{path}.timeout_s", "must be greater than 0")
    if config.strategy not in STRATEGIES:
        raise _fail(origins, "strategy", f"unknown strategy {config.strategy!r}; allowed: {', '.join(STRATEGIES)}")
    for name, tier in config.tiers.items():
        if not tier.models:
            raise _fail(origins, f"tiers.{name}.models", "a tier needs at least one model")
        for i, entry in enumerate(tier.models):
            path = f"tiers.{name}.models[{i}]"
            if entry.command is not None and (not entry.command or not entry.command[0]):
                raise _fail(origins, f"{path}.command", "give the program, then its arguments: [claude, -p]")
            if not entry.model and not entry.command:
                raise _fail(origins, path, "a model entry needs `model` (a litellm id) or `command` (a program)")
            if entry.input not in ("stdin", "arg"):
                raise _fail(origins, f"{path}.input", f"unknown input {entry.input!r}; allowed: stdin, arg")
            if entry.max_calls_per_day is not None and entry.max_calls_per_day < 0:
                raise _fail(origins, f"{path}.max_calls_per_day", "must be 0 or more")
            if entry.style not in STYLES:
                raise _fail(origins, f"{path}.style", f"unknown style {entry.style!r}; allowed: {', '.join(STYLES)}")
            if entry.timeout_s is not None and entry.timeout_s <= 0:
                raise _fail(origins, f"{path}.timeout_s", "must be greater than 0")
            if entry.price is not None and min(entry.price.input_per_mtok, entry.price.output_per_mtok) < 0:
                raise _fail(origins, f"{path}.price", "prices must be 0 or more")
    for task, tier in config.tasks.items():
        tier_ok(tier, f"tasks.{task}")
    for i, rule in enumerate(config.rules):
        path = f"rules[{i}]"
        if rule.match is None and rule.min_tokens is None:
            raise _fail(origins, path, "a rule needs `match` (a regex) or `min_tokens`")
        if (rule.tier is None) == (rule.at_least is None):
            raise _fail(origins, path, "a rule sets exactly one of `tier` or `at_least`")
        if rule.match is not None:
            try:
                re.compile(rule.match)
            except re.error as exc:
                raise _fail(origins, f"{path}.match", f"bad regular expression: {exc}") from None
        if rule.min_tokens is not None and rule.min_tokens < 0:
            raise _fail(origins, f"{path}.min_tokens", "must be 0 or more")
        tier_ok(rule.tier, f"{path}.tier")
        tier_ok(rule.at_least, f"{path}.at_least")
    b = config.budgets
    for key in ("daily_usd", "monthly_usd"):
        value = getattr(b, key)
        if value is not None and value < 0:
            raise _fail(origins, f"budgets.{key}", f"budget must be 0 or more, got {value}")
    if b.on_exceed not in ON_EXCEED:
        raise _fail(origins, "budgets.on_exceed", f"unknown value {b.on_exceed!r}; allowed: {', '.join(ON_EXCEED)}")
    if config.route.classifier not in CLASSIFIERS:
        raise _fail(origins, "route.classifier",
                    f"unknown classifier {config.route.classifier!r}; allowed: {', '.join(CLASSIFIERS)}")
    r = config.route
    if not 0 < r.learn_target <= 1:
        raise _fail(origins, "route.learn_target", f"give a fraction in (0, 1], got {r.learn_target}")
    if r.learn_min_evidence < 0 or r.learn_window_s <= 0:
        raise _fail(origins, "route", "learn_min_evidence must be 0 or more and learn_window_s more than 0")
    g = config.gateway
    if g.timeout_s <= 0 or g.retries < 0 or g.backoff_s < 0 or g.max_output_tokens <= 0:
        raise _fail(origins, "gateway", "timeout_s and max_output_tokens must be > 0; retries, backoff_s >= 0")
    for key, steps in [("max_steps", config.escalate.max_steps),
                       *((f"tasks.{t}", n) for t, n in config.escalate.tasks.items())]:
        if steps < 0:
            raise _fail(origins, f"escalate.{key}", "must be 0 or more")
    c = config.checks
    if c.tests not in CHECK_TESTS:
        raise _fail(origins, "checks.tests", f"unknown value {c.tests!r}; allowed: {', '.join(CHECK_TESTS)}")
    for key in ("timeout_s", "max_copy_mb"):
        if getattr(c, key) <= 0:
            raise _fail(origins, f"checks.{key}", "must be greater than 0")
    for key, commands in (("test_command", c.test_command), ("lint_command", c.lint_command)):
        for language, command in commands.items():
            try:
                if not shlex.split(command):
                    raise ValueError("it is empty")
            except ValueError as exc:
                raise _fail(origins, f"checks.{key}.{language}",
                            f"give a command line, e.g. \"npm test\" ({exc})") from None
    for i, pattern in enumerate(config.redact.patterns):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _fail(origins, f"redact.patterns[{i}]", f"bad regular expression: {exc}") from None
    if config.limits.max_file_bytes <= 0:
        raise _fail(origins, "limits.max_file_bytes", "must be greater than 0 (bytes)")
    for task, debate in config.debate.items():
        tier_ok(debate.draft, f"debate.{task}.draft")
        tier_ok(debate.revise, f"debate.{task}.revise")
    seen: set[str] = set()
    for i, action in enumerate(config.actions):
        path = f"actions[{i}]"
        if action.result not in RESULTS:
            raise _fail(origins, f"{path}.result", f"unknown result {action.result!r}; allowed: {', '.join(RESULTS)}")
        if action.task not in config.tasks:
            raise _fail(origins, f"{path}.task",
                        f"unknown task {action.task!r}; allowed: {', '.join(config.tasks)}")
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", action.name):
            raise _fail(origins, f"{path}.name", "use lowercase letters, digits, '-' and '_'")
        if action.name in seen:
            raise _fail(origins, f"{path}.name", f"action {action.name!r} is defined twice")
        seen.add(action.name)

