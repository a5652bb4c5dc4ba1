"""What the engine tests share: a config whose every model is priced (so no price is looked up
in litellm), a real ledger on tmp_path, a request on a small Python file, and the engine with the
scripted gateway at its edge."""

from __future__ import annotations

from pathlib import Path

from fake_gateway import FakeGateway

from routerls.engine import Engine
from routerls.layers import DEFAULTS_PATH, load_config
from routerls.ledger import Ledger
from routerls.request import RunRequest
from routerls.text import Range

SOURCE = "def area(w, h):\n    return w*h\n\n\nprint(area(2, 3))\n"
SELECTION = Range.of(0, 0, 2, 0)  # the function
REFACTORED = "def area(width, height):\n    return width * height\n"
BROKEN = "def area(width, height:\n    return width * height\n"  # does not parse

# $ per million tokens (in, out): each tier ten times the one below
PRICES = {"local-a": (0, 0), "cheap-a": (1, 2), "cheap-b": (1, 2), "mid-a": (10, 20),
          "frontier-a": (100, 200)}
TIERS = {"local": ["local-a"], "cheap": ["cheap-a", "cheap-b"], "mid": ["mid-a"],
         "frontier": ["frontier-a"]}


def fenced(code: str) -> str:
    return f"```python\n{code}```"


def config_yaml(extra: str = "", refactor: str = "mid") -> str:
    lines = ["tiers:"]
    for tier, names in TIERS.items():
        models = ", ".join(
            f'{{model: openai/{n}, api_base: "http://127.0.0.1:9/v1", context_window: 8192, '
            f"price: {{input_per_mtok: {PRICES[n][0]}, output_per_mtok: {PRICES[n][1]}}}}}"
            for n in names)
        lines.append(f"  {tier}: {{models: [{models}]}}")
    lines.append(f"tasks: {{fix: cheap, explain: cheap, docstring: local, format: local, tests: mid, "
                 f"refactor: {refactor}, design: frontier}}")
    lines.append("budgets: {daily_usd: 5.0, monthly_usd: 50.0, on_exceed: downgrade}")
    lines.append("checks: {tests: off}")
    return "\n".join(lines) + "\n" + extra


def make_config(tmp_path: Path, extra: str = "", refactor: str = "mid"):
    path = tmp_path / "routerls-test.yaml"
    path.write_text(config_yaml(extra, refactor))
    return load_config(tmp_path, files=[DEFAULTS_PATH, path])


def make_engine(tmp_path: Path, extra: str = "", refactor: str = "mid", *,
                ledger: bool = True) -> tuple[Engine, FakeGateway, Ledger | None]:
    fake = FakeGateway()
    book = Ledger(tmp_path / "ledger.sqlite3") if ledger else None
    return Engine(make_config(tmp_path, extra, refactor), book, complete=fake), fake, book


def request(tmp_path: Path, action: str = "refactor", **kw) -> RunRequest:
    path = tmp_path / "shapes.py"
    path.write_text(SOURCE)
    return RunRequest(action=action, path=str(path), text=SOURCE, range=SELECTION,
                      workspace_root=str(tmp_path), **kw)


def rows_of(ledger: Ledger) -> list[tuple[str, str, str]]:
    return [(r.tier, r.model, r.outcome) for r in ledger.rows()]
