"""What the editor tests share: a routerls config whose tiers are the scripted model server, with
fixed prices so the spend an editor shows is known, and the environment for `routerls serve`.
The model names are ones litellm's price map doesn't know, so the config's prices are the only ones."""

from __future__ import annotations

import os
import sys
from pathlib import Path

CONFIG = """\
tiers:
  local:    {{models: [{{model: openai/local-coder, api_base: "{url}", price: {{input_per_mtok: 0.0, output_per_mtok: 0.0}}}}]}}
  cheap:    {{models: [{{model: openai/rl-cheap, api_base: "{url}", api_key_env: ROUTERLS_TEST_KEY, price: {{input_per_mtok: 1.0, output_per_mtok: 4.0}}}}]}}
  mid:      {{models: [{{model: openai/rl-mid, api_base: "{url}", api_key_env: ROUTERLS_TEST_KEY, price: {{input_per_mtok: 2.5, output_per_mtok: 10.0}}}}]}}
  frontier: {{models: [{{model: openai/rl-frontier, api_base: "{url}", api_key_env: ROUTERLS_TEST_KEY, price: {{input_per_mtok: 10.0, output_per_mtok: 30.0}}}}]}}
gateway: {{timeout_s: 20, retries: 0, backoff_s: 0}}
"""

SOURCE = "import math\n\n\ndef area(r):\n    return math.pi * r * r\n"
REFACTORED = "def area(r):\n    return math.pi * r**2\n"
EDITED = SOURCE.replace("math.pi * r * r", "math.pi * r**2")
EXPLANATION = "`area` returns the area of a circle of radius `r`."
SERVER_CMD = [sys.executable, "-m", "routerls", "serve"]


def fence(code: str) -> str:
    return f"```python\n{code}```"


def workspace(tmp: Path, url: str) -> tuple[Path, dict[str, str]]:
    """A workspace with `area.py` in it, and the environment that points routerls at `url`."""
    ws = tmp / "ws"
    ws.mkdir(parents=True, exist_ok=True)
    (ws / ".git").mkdir(exist_ok=True)  # the root marker editors look for
    (ws / "area.py").write_text(SOURCE, encoding="utf-8")
    config = tmp / "routerls-test.yaml"
    config.write_text(CONFIG.format(url=url), encoding="utf-8")
    env = {**os.environ, "ROUTERLS_CONFIG": str(config), "ROUTERLS_DATA_DIR": str(tmp / "data"),
           "XDG_CONFIG_HOME": str(tmp / "xdg"), "XDG_DATA_HOME": str(tmp / "xdg-data"),
           "XDG_STATE_HOME": str(tmp / "xdg-state"), "HOME": str(tmp / "home"),
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "ROUTERLS_TEST_KEY": "sk-test-editors"}
    (tmp / "home").mkdir(exist_ok=True)
    return ws, env
