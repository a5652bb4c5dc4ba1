"""`routerls local serve|status|stop`: what each does to the runtime, and the lines it prints.

Apart from `runtime.py` because `status` also reports Ollama, which `availability` probes, and
availability builds on the runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from routerls.backends import availability
from routerls.backends.local import models, runtime
from routerls.backends.local.models import EMBEDDED, INSTALL_HINT, RUNTIME, LocalError

if TYPE_CHECKING:
    from routerls.config import Config


def command(action: str, config: Config) -> tuple[int, list[str]]:
    """The `routerls local` subcommands: (exit code, lines to print)."""
    bases = models.embedded_bases(config)
    lines: list[str] = []
    if action == "status":
        lines.append(f"runtime: {RUNTIME} (llama.cpp) "
                     + ("installed" if models.runtime_installed() else "not installed; " + INSTALL_HINT))
        for name, model in EMBEDDED.items():
            folder = models.package_dir(model.module)
            lines.append(f"model {name}: " + (f"from {model.package} ({model.style})" if folder
                                              else f"{model.package} not installed"))
        url = availability.ollama_url()
        lines.append(f"ollama at {url}: {'answering' if availability.ollama_answers(url.rstrip('/')) else 'not answering'}")
    if not bases:
        lines.append("the config names no embedded model (an `openai/<file>.gguf` entry at a loopback "
                     "api_base under `tiers:`); nothing to " + action)
        return (0 if action == "status" else 2), lines
    code = 0
    for base, names in bases.items():
        try:
            if action == "serve":
                rt = runtime.ensure_running(base, names)
                lines.append(f"{'already running' if rt.reused else 'started'} at {rt.api_base}"
                             f" (pid {rt.pid}): {', '.join(rt.models)}")
            elif action == "stop":
                rt = runtime.stop(base)
                lines.append(f"stopped the runtime at {base} (pid {rt.pid})" if rt
                             else f"no runtime of ours at {base}")
            else:
                rt = runtime.status(base)
                lines.append(f"runtime at {base}: " + (
                    f"answering (pid {rt.pid}): {', '.join(rt.models)}" if rt
                    else "not running (started on demand by `routerls run` and the language server)"))
        except LocalError as exc:
            lines.append(f"{base}: {exc}")
            code = 1
    return code, lines


