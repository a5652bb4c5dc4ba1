"""`routerls trust`: trust (or revoke, or list) a workspace's `.routerls.yaml`, for its exact content."""

from __future__ import annotations

from pathlib import Path

from routerls.commands.workspace import UsageError


def cmd_trust(args, console) -> int:
    """`routerls trust [DIR]`, `--revoke`, `--list`: the workspaces whose config may run programs
    and choose where keys go, each for one exact content of its `.routerls.yaml`."""
    from routerls import trust
    from routerls.config import ConfigError
    from routerls.layers import load_config

    if args.list:
        found = trust.trusted()
        if not found:
            console.print("no trusted workspaces")
        for path, record in sorted(found.items()):
            state = trust.state(Path(path))
            console.print(f"{path}  sha256 {str(record.get('sha256'))[:12]}…  {record.get('trusted_at', '')}  "
                          f"{'' if state == 'trusted' else state}".rstrip(), highlight=False, markup=False)
        return 0
    workspace = Path(args.dir or ".").resolve()
    try:
        if args.revoke:
            done = trust.revoke(workspace)
            console.print(f"revoked trust in {workspace}" if done else f"{workspace} was not trusted",
                          highlight=False, markup=False)
            return 0
        file = trust.config_file(workspace)
        try:
            content = file.read_bytes()
        except OSError as exc:
            raise UsageError(f"{file}: {exc.strerror}; nothing to trust") from None
        sha = trust.digest(content)
        # what the trust turns on, from the exact bytes hashed (a bad file is not trusted)
        try:
            before = load_config(workspace, is_trusted=lambda *_: False).workspace.ignored
            load_config(workspace, is_trusted=lambda _ws, d: d == sha)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        if trust.digest(file.read_bytes()) != sha:
            raise UsageError(f"{file} changed while it was read; run the command again")
        trust.trust(workspace, sha)
    except trust.TrustError as exc:
        raise UsageError(str(exc)) from None
    console.print(f"trusted {file} (sha256 {sha[:12]}…); any change to it needs a new `routerls trust`",
                  highlight=False, markup=False)
    for i in before:
        console.print(f"  now applies: {i.where}: {i.path}", highlight=False, markup=False)
    return 0
