"""Workspace trust: what a cloned repository's config may set, and which workspaces the user trusts.

A workspace's `.routerls.yaml` (and the workspace part of editor settings) comes with the code,
so it is untrusted input: it may route, budget and prompt, but a setting that runs a program,
decides where a call or a key goes, or weakens what keeps secrets in is left out until the user
trusts that file. `KEYS` classifies every field of every config class — as data, in this one
place; `tests/unit/test_trust.py` fails when a field is added without a classification.

Trust follows direnv's rule: it is recorded in the user data dir (a 0600 JSON file) for the
workspace path *and* the sha256 of the file's bytes, so any edit to the file revokes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from routerls import config as C
from routerls.config import Ignored, field_types, settings_fields
from routerls.origins import nearest_origin

STORE = "trust.json"
COMMAND_PREFIX = f"{C.COMMAND_PROVIDER}/"  # the litellm ids of command models


class TrustError(Exception):
    """The trust store cannot be read or written; the message says which file and what to do."""


# --- the classification -----------------------------------------------------------------------

@attrs.frozen
class Key:
    """How a workspace may set one config field.

    `allowed(value, trusted)` — when given — admits the values that can do no harm: one that
    only strengthens what the trusted layers beneath already say (more redaction patterns, more
    local-only globs), or a model id that is not a program; any other value needs trust. `whole_entry`: without this key the entry means something else
    (a `command` model is a program), so the whole entry is left out with it.
    """

    needs_trust: bool
    why: str = ""
    allowed: Callable[[Any, Any], bool] | None = None
    whole_entry: bool = False
    note_depth: int = 0  # name each entry this many mappings down (`tools.format.python`), not the key




SAFE = Key(False)


def needs(why: str, *, whole_entry: bool = False, note_depth: int = 0) -> Key:
    return Key(True, why, whole_entry=whole_entry, note_depth=note_depth)


def _superset(value: Any, trusted: Any) -> bool:
    return (isinstance(value, list) and all(isinstance(v, str) for v in value)
            and set(trusted or ()) <= set(value))


def _not_a_program(value: Any, _trusted: Any) -> bool:
    return not str(value).startswith(COMMAND_PREFIX)


def _is(wanted: bool) -> Callable[[Any, Any], bool]:
    return lambda value, trusted: value is wanted or value == trusted


def _no_larger(value: Any, trusted: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool) and isinstance(trusted, int)
            and value <= trusted)


RUNS = "runs a program"
SENDS = "decides where your code and API key are sent"
SECRETS = "weakens what keeps secrets on this machine"

KEYS: dict[type, dict[str, Key]] = {
    C.Config: {
        "strategy": SAFE, "tiers": SAFE, "tasks": SAFE, "rules": SAFE, "budgets": SAFE,
        "gateway": SAFE, "escalate": SAFE, "debate": SAFE, "hover": SAFE, "route": SAFE,
        "ledger": SAFE, "redact": SAFE, "actions": SAFE, "limits": SAFE, "checks": SAFE,
        "local_only": Key(True, f"removes local-only files ({SECRETS})", allowed=_superset),
        "tools": needs(RUNS, note_depth=2),
    },
    C.Tier: {"models": SAFE},
    C.ModelEntry: {
        # `command/<name>` calls the user's program of that name, past its max_calls_per_day
        "model": Key(True, RUNS, allowed=_not_a_program, whole_entry=True), "timeout_s": SAFE, "price": SAFE, "context_window": SAFE, "style": SAFE,
        "label": SAFE, "max_calls_per_day": SAFE,
        "api_base": needs(SENDS), "api_key_env": needs(SENDS),
        "command": needs(RUNS, whole_entry=True), "input": needs(f"how a program is fed ({RUNS})"),
    },
    C.Price: {"input_per_mtok": SAFE, "output_per_mtok": SAFE},
    C.Rule: {"match": SAFE, "min_tokens": SAFE, "tier": SAFE, "at_least": SAFE},
    C.Budgets: {"daily_usd": SAFE, "monthly_usd": SAFE, "on_exceed": SAFE},
    C.GatewaySettings: {"timeout_s": SAFE, "retries": SAFE, "backoff_s": SAFE, "max_output_tokens": SAFE},
    C.Escalate: {"max_steps": SAFE, "tasks": SAFE},
    C.Debate: {"draft": SAFE, "revise": SAFE},
    C.Hover: {"explain": SAFE},
    C.Route: {"classifier": SAFE, "learn": SAFE, "learn_target": SAFE, "learn_min_evidence": SAFE,
              "learn_window_s": SAFE},  # learning only moves between the configured tiers
    C.LedgerSettings: {"store_prompts": Key(True, "keeps prompt text in the ledger", allowed=_is(False))},
    C.Redact: {"enabled": Key(True, SECRETS, allowed=_is(True)),
               "patterns": Key(True, f"drops redaction patterns ({SECRETS})", allowed=_superset)},
    C.UserAction: {"name": SAFE, "title": SAFE, "task": SAFE, "prompt": SAFE, "result": SAFE},
    C.Limits: {"max_file_bytes": Key(True, "raises the size of file routerls reads from disk",
                                     allowed=_no_larger)},
    # the project's own tests run sandboxed (read-only file system, no network); a workspace may
    # turn them off, not on, and may not name the program that runs them
    C.ChecksSettings: {"tests": Key(True, RUNS, allowed=lambda value, trusted: value in ("off", trusted)),
                       "timeout_s": SAFE, "max_copy_mb": SAFE,
                       "test_command": needs(RUNS, note_depth=1), "lint_command": needs(RUNS, note_depth=1)},
    C.ToolEntry: {"name": needs(RUNS), "command": needs(RUNS), "fixable": needs(RUNS), "timeout_s": needs(RUNS)},
}

# Mapping keys (not fields) that need trust. The `local` tier's prompts are not redacted and
# it alone serves local-only files, so a workspace must not put a remote model there.
DICT_KEYS: dict[str, Key] = {"tiers.local": needs(f"the local tier sees secrets unredacted ({SECRETS})")}


# --- the shape of the config, from its type hints --------------------------------------------

def _node(kind: Any) -> tuple:
    """('attrs', cls) | ('dict', node) | ('list', node) | ('leaf',) for a field's type."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(kind) if a is not type(None)]
        return _node(inner[0]) if len(inner) == 1 else ("leaf",)
    if origin is dict:
        return ("dict", _node(typing.get_args(kind)[1]))
    if origin is tuple:
        return ("list", _node(typing.get_args(kind)[0]))
    if isinstance(kind, type) and attrs.has(kind):
        return ("attrs", kind)
    return ("leaf",)


def attrs_classes(cls: type = C.Config) -> list[type]:
    """`cls` and every config class reachable from its settings, each once."""
    seen: list[type] = []

    def visit(node: tuple) -> None:
        if node[0] == "attrs" and node[1] not in seen:
            seen.append(node[1])
            for f in settings_fields(node[1]):
                visit(_node(field_types(node[1])[f.name]))
        elif node[0] in ("dict", "list"):
            visit(node[1])

    visit(("attrs", cls))
    return seen


# --- filtering a workspace layer --------------------------------------------------------------

_DROP = object()  # an entry left out whole


def filter_layer(layer: Mapping[str, Any], trusted: Mapping[str, Any], origins: Mapping[str, tuple],
                 file: str) -> tuple[dict[str, Any], tuple[Ignored, ...]]:
    """`layer` without the settings that need trust, and each one left out, located.

    `trusted` is the merged data of the layers beneath (a value that only tightens them is
    kept). Unknown keys are kept: `layers.structure` reports them with their line.
    """
    ignored: list[Ignored] = []

    def note(path: str, key: Key, value: Any = None, depth: int = 0) -> None:
        if depth < key.note_depth and isinstance(value, Mapping) and value:
            for k, v in value.items():
                note(f"{path}.{k}", key, v, depth + 1)
            return
        where = origins.get(path) or nearest_origin(origins, path) or (file, None)
        ignored.append(Ignored(path, where[0], where[1], key.why))

    def walk_attrs(value: Mapping, cls: type, base: Any, path: str) -> Any:
        keys, renamed = KEYS[cls], {raw: f for f, raw in C.RENAMED.get(cls, {}).items()}
        out: dict[str, Any] = {}
        for raw, sub_value in value.items():
            name, sub = renamed.get(raw, raw), f"{path}.{raw}" if path else str(raw)
            key = keys.get(name)
            if key is None:
                out[raw] = sub_value
                continue
            below = base.get(raw) if isinstance(base, Mapping) else None
            if key.needs_trust:
                if key.allowed is not None and key.allowed(sub_value, _default(cls, name) if below is None else below):
                    out[raw] = sub_value
                    continue
                note(sub, key, sub_value)
                if key.whole_entry:
                    return _DROP
                continue
            kept = walk(sub_value, _node(field_types(cls)[name]), below, sub)
            if not _emptied(sub_value, kept):
                out[raw] = kept
        return out

    def walk(value: Any, node: tuple, base: Any, path: str) -> Any:
        if node[0] == "attrs" and isinstance(value, Mapping):
            return walk_attrs(value, node[1], base, path)
        if node[0] == "dict" and isinstance(value, Mapping):
            out = {}
            for k, v in value.items():
                sub = f"{path}.{k}"
                if sub in DICT_KEYS:
                    note(sub, DICT_KEYS[sub])
                    continue
                kept = walk(v, node[1], base.get(k) if isinstance(base, Mapping) else None, sub)
                if kept is not _DROP and not _emptied(v, kept):
                    out[k] = kept
            return out
        if node[0] == "list" and isinstance(value, list):
            kept_items = [walk(v, node[1], None, f"{path}[{i}]") for i, v in enumerate(value)]
            return [v for v in kept_items if v is not _DROP]
        return value

    return walk_attrs(layer, C.Config, trusted, ""), tuple(ignored)


def _emptied(before: Any, after: Any) -> bool:
    """A mapping or list that filtering emptied goes too: an empty `models:` would be an error,
    and an empty mapping would mean nothing anyway."""
    return isinstance(before, (Mapping, list)) and bool(before) and (after is _DROP or not after)


def _default(cls: type, name: str) -> Any:
    default = attrs.fields_dict(cls)[name].default
    value = default.factory() if isinstance(default, attrs.Factory) else default  # type: ignore[arg-type]
    return list(value) if isinstance(value, tuple) else value




# --- the trust store --------------------------------------------------------------------------

def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def config_file(workspace: Path) -> Path:
    return workspace / ".routerls.yaml"


def store_path() -> Path:
    """In the user data dir, beside the ledger: no config key can move it (only the user's
    `ROUTERLS_DATA_DIR`)."""
    from routerls.paths import data_dir

    return data_dir() / STORE


def _key(workspace: Path) -> str:
    return str(Path(workspace).resolve())


def _read() -> dict[str, dict[str, str]]:
    """The trusted workspaces. A store others may write to trusts nothing (fail closed)."""
    path = store_path()
    try:
        st = path.stat()
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}
    found = data.get("workspaces") if isinstance(data, dict) else None
    return {k: v for k, v in found.items() if isinstance(v, dict)} if isinstance(found, dict) else {}


def _write(workspaces: Mapping[str, Any]) -> None:
    path = store_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{STORE}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)
            json.dump({"version": 1, "workspaces": dict(workspaces)}, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError as exc:
        raise TrustError(f"{path}: cannot write the trust store ({exc.strerror}); "
                         "check the data dir's permissions or set ROUTERLS_DATA_DIR") from None


def is_trusted(workspace: Path, sha256: str) -> bool:
    record = _read().get(_key(workspace))
    return record is not None and record.get("sha256") == sha256


def trust(workspace: Path, sha256: str) -> None:
    """Trust this workspace's config with exactly this content."""
    workspaces = _read()
    workspaces[_key(workspace)] = {"sha256": sha256, "file": str(config_file(Path(workspace).resolve())),
                                   "trusted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    _write(workspaces)


def revoke(workspace: Path) -> bool:
    workspaces = _read()
    if workspaces.pop(_key(workspace), None) is None:
        return False
    _write(workspaces)
    return True


def trusted() -> dict[str, dict[str, str]]:
    return _read()


def state(workspace: Path) -> str:
    """`trusted`, `changed since trusted`, `not trusted` or `no config file`, for `doctor`."""
    try:
        content = config_file(workspace).read_bytes()
    except OSError:
        return "no config file"
    record = _read().get(_key(workspace))
    if record is None:
        return "not trusted"
    return "trusted" if record.get("sha256") == digest(content) else "changed since trusted"


def message(workspace: Path | None, ignored: tuple[Ignored, ...], *, command: bool = True) -> str:
    """One message for all that was left out: each key with file:line and what it could do,
    then how to trust the file."""
    paths = list(dict.fromkeys(i.path for i in ignored))
    named = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    lines = [f"routerls ignored {named} from an untrusted workspace config:"]
    lines += [f"  {i.where}: {i.path} ({i.why})" for i in ignored]
    if command and workspace is not None and any(i.file.endswith(".routerls.yaml") for i in ignored):
        lines.append(f"If you trust this file's current content: routerls trust {workspace}")
    if any(not i.file.endswith(".routerls.yaml") for i in ignored):
        lines.append("Settings that run programs or move keys are never taken from workspace editor "
                     "settings; put them in your user settings or ~/.config/routerls/config.yaml.")
    return "\n".join(lines)
