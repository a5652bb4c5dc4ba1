"""Where the settings come from: the layered YAML files and editor settings, merged with the
file and line of every key, then structured into a checked `Config` with cattrs.

Layers, low → high: the built-in `defaults.yaml`, the user file, the workspace `.routerls.yaml`,
`ROUTERLS_CONFIG`, then LSP settings. Dicts merge key by key and lists replace. Every value
remembers the file and line it came from, so one bad key anywhere yields one `ConfigError`
that says `file:line: key: what is wrong (what is allowed)`. The workspace's layers lose the
settings that need trust (`trust.py`) first; `structure` types the result and raises the first
of its `problems()` (config.py), located.
"""

from __future__ import annotations

import functools
import os
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs
import yaml
from cattrs.gen import make_dict_structure_fn, override

from routerls import trust
from routerls.config import (
    RENAMED,
    Config,
    ConfigError,
    ModelEntry,
    WorkspaceState,
    field_types,
    model_id,
    settings_fields,
)
from routerls.origins import nearest_origin

# YAML 1.1 reads an unquoted on/off as a boolean; these settings take words, so the words come back
YAML_WORDS: dict[tuple[str, str], dict[bool, str]] = {("checks", "tests"): {False: "off", True: "auto"}}


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


# --- structuring -------------------------------------------------------------------------

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
    for cls in trust.attrs_classes(Config):  # every class a setting holds, ModelEntry first
        if cls not in (Config, ModelEntry):
            conv.register_structure_hook(cls, make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True))
    return conv


def _fail(origins: Mapping, path: str, message: str) -> ConfigError:
    file, line = nearest_origin(origins, path) or ("<config>", None)
    return ConfigError(message, file, line, path)


def structure(data: dict[str, Any], origins: dict[str, tuple[str, int | None]] | None = None) -> Config:
    """Merged plain data → a checked `Config`; the first bad setting raises, located by `origins`."""
    origins = origins if origins is not None else {}
    known = [f.name for f in settings_fields(Config)]
    for key in data:
        if key not in known:
            raise _fail(origins, key, f"unknown setting {key!r}; allowed: {', '.join(known)}")
    try:
        kwargs = {name: _structure_field(name, value, origins) for name, value in data.items()}
        config = Config(**kwargs, origins=dict(origins))
    except TypeError as exc:
        raise ConfigError(str(exc)) from None
    for path, message in config.problems():
        raise _fail(origins, path, message)
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


def _structure_field(name: str, value: Any, origins: Mapping) -> Any:
    kind = field_types(Config)[name]
    container = typing.get_origin(kind) or kind
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
