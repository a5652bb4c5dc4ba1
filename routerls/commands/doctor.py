"""`routerls doctor`: the config files and whether they are valid, keys (names only), whether each
backend or program answers, and the workspace's trust.
"""

from __future__ import annotations

import os
from pathlib import Path

from routerls.commands.workspace import UsageError, load


def cmd_doctor(args, console) -> int:
    from routerls.layers import layer_files
    from routerls.ledger import default_path

    ok = True
    workspace = Path.cwd()
    console.print("[bold]config files[/] (low → high):")
    for f in layer_files(workspace):
        console.print(f"  {f}")
    try:
        config, _ = load(args)
        console.print("  [green]valid[/]")
    except UsageError as exc:
        console.print(f"  [red]{exc}[/]")
        return 1
    console.print(f"[bold]ledger[/]: {default_path()}")
    _doctor_trust(console, workspace, config)
    console.print(f"[bold]strategy[/]: {config.strategy}   [bold]budgets[/]: daily "
                  f"{config.budgets.daily_usd}, monthly {config.budgets.monthly_usd}, on exceed {config.budgets.on_exceed}")
    for name, tier in config.tiers.items():
        console.print(f"[bold]{name}[/]")
        for entry in tier.models:
            key = entry.api_key_env
            if key:
                state = "[green]key set[/]" if os.environ.get(key) else "[yellow]key missing[/]"
                key_note = f"{key}: {state}"
            else:
                key_note = "no key needed"
            if entry.command is not None:
                key_note, reach = "subscription program", _probe_program(entry.command[0])
            else:
                reach = _probe(entry.api_base) if entry.api_base else ""
            console.print(f"  {entry.model}  {key_note}  {reach}", highlight=False)
    console.print("[bold]tasks[/]: " + ", ".join(f"{t}→{tier}" for t, tier in config.tasks.items()))
    return 0 if ok else 1


def _doctor_trust(console, workspace: Path, config) -> None:
    from routerls import trust

    state = trust.state(workspace)
    colour = {"trusted": "green", "no config file": "dim"}.get(state, "yellow")
    line = f"[bold]workspace trust[/]: {trust.config_file(workspace)}: [{colour}]{state}[/]"
    if config.workspace.ignored:
        line += f" ({len(config.workspace.ignored)} settings ignored; `routerls trust {workspace}`)"
    console.print(line, highlight=False)


def _probe(api_base: str) -> str:
    """Does the backend answer? One short GET; never sends a key, never shows a URL password."""
    import urllib.error
    import urllib.request

    from routerls.redact import url_without_password

    shown = url_without_password(api_base)
    url = api_base.rstrip("/") + ("/models" if api_base.rstrip("/").endswith("/v1") else "/api/tags")
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return f"[green]answers at {shown}[/] ({resp.status})"
    except urllib.error.HTTPError as exc:
        return f"[yellow]answers at {shown} with HTTP {exc.code}[/]"
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"[red]not answering at {shown}[/] ({reason})"


def _probe_program(program: str) -> str:
    """Is a command model's program found, and does it answer `--version`? (No prompt is sent:
    that would spend a call of the user's plan.)"""
    import shutil
    import subprocess

    path = shutil.which(program)
    if path is None:
        return f"[red]{program} not found on PATH[/]"
    try:
        proc = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"[red]{path} does not answer ({exc})[/]"
    version = (proc.stdout or proc.stderr).strip().splitlines()[:1]
    state = "answers" if proc.returncode == 0 else f"exits {proc.returncode} on --version"
    return f"[green]{path} {state}[/]" + (f" ({version[0][:60]})" if version else "")
