"""The tools tier against the local model: format latency on the same selections, and the share of
an editor-task mix that the tools tier serves at $0.

    python benchmarks/bench_tools.py [--selections 12] [--mix 400] [--json]

Format latency: `Engine.run("format")` through ruff vs the same requests pinned to the local
tier (the embedded llama.cpp runtime, started once beforehand so its cold start is not counted;
skipped with a note when `routerls[local]` is not installed). The mix: actions drawn with a
realistic editor frequency over routerls' own source files, `fix` aimed at ruff findings (fixable
and not); the share is the fraction whose plan is the tools tier, decided exactly as a run does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routerls.backends import tools
from routerls.context import Diagnostic
from routerls.engine import Engine
from routerls.layers import load_config
from routerls.request import RunRequest
from routerls.text import Range, split_lines

MIX = {"format": 25, "fix": 25, "docstring": 20, "explain": 15, "refactor": 10, "tests": 5}


def ruff_findings(path: Path, text: str) -> list[Diagnostic]:
    out = subprocess.run([tools.which("ruff"), "check", "--output-format", "json", "--exit-zero", "--quiet",
                          "--stdin-filename", str(path), "-"], input=text,
                         capture_output=True, text=True, check=False).stdout
    return [Diagnostic(Range.of(f["location"]["row"] - 1, f["location"]["column"] - 1,
                                f["end_location"]["row"] - 1, f["end_location"]["column"] - 1),
                       f["message"], 2, f["code"], "ruff")
            for f in json.loads(out or "[]") if f.get("code")]


def selections(text: str, rng: random.Random, n: int) -> list[Range]:
    lines = split_lines(text)
    out = []
    for _ in range(n):
        first = rng.randrange(0, max(len(lines) - 12, 1))
        out.append(Range.of(first, 0, first + rng.randint(3, 10), 0))
    return out


async def format_latency(engine: Engine, files: list[Path], n: int, tier: str | None) -> list[float]:
    rng = random.Random(11)
    times = []
    for i in range(n):
        path = files[i % len(files)]
        text = path.read_text()
        [sel] = selections(text, rng, 1)
        req = RunRequest(action="format", path=str(path), text=text, range=sel, tier=tier,
                         workspace_root=str(ROOT))
        t0 = time.perf_counter()
        result = await engine.run(req)
        times.append((time.perf_counter() - t0) * 1000)
        if result.outcome != "ok" and tier is None:
            raise SystemExit(f"tools run failed: {result.message}")
    return times


async def mix_share(engine: Engine, files: list[Path], n: int) -> dict[str, float]:
    rng = random.Random(5)
    actions = [a for a, w in MIX.items() for _ in range(w)]
    served = {a: [0, 0] for a in MIX}
    for _ in range(n):
        path = rng.choice(files)
        text = path.read_text()
        action = rng.choice(actions)
        diagnostics: tuple[Diagnostic, ...] = ()
        if action == "fix":
            # half the problems a linter can fix (an unused import), half it cannot (a typo'd name)
            lines = text.splitlines(keepends=True)
            at = rng.randrange(len(lines))
            while at < len(lines) and lines[at][:1] in (" ", "\t", "\n", ")", "]", "}", '"', "'"):
                at += 1
            bad = "import colorsys\n" if rng.random() < 0.5 else "print(undefined_name_xyz)\n"
            text = "".join([*lines[:at], bad, *lines[at:]])
            diagnostics = tuple(d for d in ruff_findings(path, text) if d.range.start.line == at)
            rng_ = Range.of(at, 0, at + 1, 0)
        else:
            [rng_] = selections(text, rng, 1)
        req = RunRequest(action=action, path=str(path), text=text, range=rng_, diagnostics=diagnostics,
                         workspace_root=str(ROOT))
        plan = engine.plan(req, tool_ok=await engine.check_tool(req))
        served[action][0] += plan.decision.tier == tools.TIER
        served[action][1] += 1
    total = sum(c for c, _ in served.values())
    return {"share": total / n, **{a: (c / t if t else 0.0) for a, (c, t) in served.items()}}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--selections", type=int, default=12)
    ap.add_argument("--mix", type=int, default=400)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    files = sorted((ROOT / "routerls").glob("*.py"))
    with tempfile.TemporaryDirectory() as data:
        import os

        os.environ["ROUTERLS_DATA_DIR"] = data
        engine = Engine(load_config(ROOT))
        tool_ms = await format_latency(engine, files, args.selections, None)
        local_ms: list[float] = []
        note = ""
        try:
            import xllamacpp  # noqa: F401

            await format_latency(engine, files, 1, "local")  # start the runtime, not counted
            local_ms = await format_latency(engine, files, min(args.selections, 6), "local")
        except ImportError:
            note = "local model not installed (bash scripts/install-local.sh): no local column"
        share = await mix_share(engine, files, args.mix)
    result = {
        "selections": args.selections,
        "tools_format_p50_ms": round(statistics.median(tool_ms), 1),
        "local_format_p50_ms": round(statistics.median(local_ms), 1) if local_ms else None,
        "local_over_tools": round(statistics.median(local_ms) / statistics.median(tool_ms), 1) if local_ms else None,
        "mix_requests": args.mix,
        "mix_share_served_by_tools": round(share.pop("share"), 3),
        "share_by_action": {a: round(v, 3) for a, v in share.items()},
        "note": note,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:28} {value}")


if __name__ == "__main__":
    asyncio.run(main())
