"""How much the language server costs an editor: prints a table, then the numbers as JSON.

    python benchmarks/bench_lsp.py [--requests 2000] [--runs 30]

- codeAction round trip (p50/p99) on a 300-line file, routerls against an empty pygls server
  (a codeAction handler that returns `[]`), one raw JSON-RPC client for both, same run. Goal:
  ratio ≤ 1.2.
- spawn → `initialize` result (goal ≤ 0.5 s) and RSS right after it (goal ≤ 80 MB).
- the server's time per `routerls.run` beyond the model's own: the run's round trip (progress,
  model stream, edits, ledger, applyEdit) minus `litellm.acompletion` streaming the same reply
  from the same loopback scripted server (goal ≤ 25 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_TELEMETRY", "False")

EMPTY_SERVER = """
from lsprotocol import types as T
from pygls.lsp.server import LanguageServer

server = LanguageServer("empty", "0")

@server.feature(T.TEXT_DOCUMENT_CODE_ACTION)
def code_action(ls, params):
    return []

server.start_io()
"""

CONFIG = """\
tiers:
  local:    {{models: [{{model: openai/local-coder, api_base: "{url}", price: {{input_per_mtok: 0.0, output_per_mtok: 0.0}}}}]}}
  cheap:    {{models: [{{model: openai/gpt-4o-mini, api_base: "{url}"}}]}}
  mid:      {{models: [{{model: openai/gpt-4o, api_base: "{url}"}}]}}
  frontier: {{models: [{{model: openai/gpt-4-turbo, api_base: "{url}"}}]}}
gateway: {{retries: 0}}
"""

CAPABILITIES = {
    "general": {"positionEncodings": ["utf-16"]},
    "workspace": {"applyEdit": True, "workspaceEdit": {"documentChanges": True}},
    "window": {"workDoneProgress": True, "showDocument": {"support": True}},
    "textDocument": {"codeAction": {"codeActionLiteralSupport": {"codeActionKind": {"valueSet": [
        "", "quickfix", "refactor", "refactor.rewrite", "source"]}}, "resolveSupport": {"properties": ["edit"]}}},
}


def make_document(lines: int = 300) -> str:
    out = []
    for i in range(lines // 3):
        out += [f"def function_{i}(a, b):", f"    return a * {i} + b", ""]
    return "\n".join(out) + "\n"


class RawClient:
    """A minimal JSON-RPC client over the server's stdio: no decoding beyond `json.loads`, so
    both servers are measured through exactly the same cheap path. Server→client requests are
    answered at once (progress create, applyEdit: applied, showDocument: success)."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None):
        self.spawned = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env)
        self.responses: dict[int, queue.Queue] = {}
        self.logs: queue.Queue = queue.Queue()
        self.next_id = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _send(self, message: dict) -> None:
        body = json.dumps(message).encode()
        with self.lock:
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.proc.stdin.flush()

    def _read(self) -> None:
        stream = self.proc.stdout
        while True:
            length = 0
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            message = json.loads(stream.read(length))
            if "method" in message and "id" in message:
                result = {"workspace/applyEdit": {"applied": True},
                          "window/showDocument": {"success": True}}.get(message["method"])
                self._send({"jsonrpc": "2.0", "id": message["id"], "result": result})
            elif "method" in message:
                if message["method"] == "window/logMessage":
                    self.logs.put(message["params"]["message"])
            else:
                box = self.responses.get(message.get("id"))
                if box is not None:
                    box.put(message)

    def request(self, method: str, params: object, timeout: float = 60) -> dict:
        self.next_id += 1
        box: queue.Queue = queue.Queue()
        self.responses[self.next_id] = box
        self._send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        message = box.get(timeout=timeout)
        del self.responses[self.next_id]
        if "error" in message:
            raise RuntimeError(f"{method}: {message['error']}")
        return message["result"]

    def notify(self, method: str, params: object) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def wait_log(self, needle: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            message = self.logs.get(timeout=max(deadline - time.monotonic(), 0.01))
            if needle in message:
                return message

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def initialize(self, root: Path, options: dict | None = None) -> float:
        self.request("initialize", {"processId": os.getpid(), "rootUri": root.as_uri(),
                                    "capabilities": CAPABILITIES, "initializationOptions": options})
        return time.perf_counter() - self.spawned

    def close(self) -> None:
        try:
            self.request("shutdown", None, timeout=5)
            self.notify("exit", None)
            self.proc.wait(5)
        except Exception:  # noqa: BLE001 - a benchmark tears down whatever it can
            self.proc.kill()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(round(p / 100 * (len(ordered) - 1)), len(ordered) - 1)]


def time_code_actions(client: RawClient, uri: str, n: int) -> list[float]:
    params = {"textDocument": {"uri": uri},
              "range": {"start": {"line": 150, "character": 0}, "end": {"line": 153, "character": 0}},
              "context": {"diagnostics": [], "triggerKind": 1}}
    out = []
    for _ in range(n):
        started = time.perf_counter()
        client.request("textDocument/codeAction", params)
        out.append((time.perf_counter() - started) * 1000)
    return out


def open_document(client: RawClient, uri: str, text: str) -> None:
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python",
                                                            "version": 1, "text": text}})


async def time_direct_litellm(url: str, messages: list[dict], n: int) -> list[float]:
    import litellm

    litellm.suppress_debug_info = True
    out = []
    for i in range(n + 3):
        started = time.perf_counter()
        stream = await litellm.acompletion(model="openai/gpt-4o", api_base=url, api_key="bench",
                                           messages=messages, stream=True,
                                           stream_options={"include_usage": True}, max_tokens=2048)
        async for _ in stream:
            pass
        if i >= 3:  # the first calls pay for connection set-up and lazy imports
            out.append((time.perf_counter() - started) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--spawns", type=int, default=5)
    args = parser.parse_args(argv)

    from modelserver import ModelServerProcess

    tmp = Path(tempfile.mkdtemp(prefix="routerls-bench-"))
    workspace = tmp / "ws"
    workspace.mkdir()
    document = make_document(300)
    (workspace / "big.py").write_text(document, encoding="utf-8")
    uri = (workspace / "big.py").as_uri()
    models = ModelServerProcess()
    config = tmp / "config.yaml"
    config.write_text(CONFIG.format(url=models.url), encoding="utf-8")
    env = {**os.environ, "ROUTERLS_DATA_DIR": str(tmp / "data"), "ROUTERLS_CONFIG": str(config),
           "XDG_CONFIG_HOME": str(tmp / "xdg")}
    routerls_cmd = [sys.executable, "-m", "routerls", "serve"]
    results: dict[str, object] = {}
    try:
        # spawn → initialize, RSS after initialize
        spawn_times, rss = [], []
        for _ in range(args.spawns):
            client = RawClient(routerls_cmd, env)
            spawn_times.append(client.initialize(workspace))
            rss.append(client.rss_mb())
            client.close()
        empty_spawn = []
        for _ in range(args.spawns):
            client = RawClient([sys.executable, "-c", EMPTY_SERVER])
            empty_spawn.append(client.initialize(workspace))
            client.close()
        results["initialize_s"] = statistics.median(spawn_times)
        results["empty_pygls_initialize_s"] = statistics.median(empty_spawn)
        results["rss_after_initialize_mb"] = statistics.median(rss)

        # codeAction round trips: both servers up, measured alternately in the same run
        ours = RawClient(routerls_cmd, env)
        ours.initialize(workspace)
        ours.notify("initialized", {})
        ours.wait_log("model gateway ready")  # litellm's import is done: steady state
        results["rss_after_warm_mb"] = ours.rss_mb()
        empty = RawClient([sys.executable, "-c", EMPTY_SERVER])
        empty.initialize(workspace)
        empty.notify("initialized", {})
        for client in (ours, empty):
            open_document(client, uri, document)
        ours_ms, empty_ms = [], []
        for client in (ours, empty):
            time_code_actions(client, uri, 300)  # warm-up
        block = 100  # alternate, so both see the same machine load
        for start in range(0, args.requests, block):
            n = min(block, args.requests - start)
            ours_ms += time_code_actions(ours, uri, n)
            empty_ms += time_code_actions(empty, uri, n)
        empty.close()
        results["code_action_ms"] = {"p50": statistics.median(ours_ms), "p99": percentile(ours_ms, 99)}
        results["empty_pygls_ms"] = {"p50": statistics.median(empty_ms), "p99": percentile(empty_ms, 99)}
        results["code_action_ratio_p50"] = results["code_action_ms"]["p50"] / results["empty_pygls_ms"]["p50"]
        results["code_action_ratio_p99"] = results["code_action_ms"]["p99"] / results["empty_pygls_ms"]["p99"]
        results["code_actions_returned"] = len(ours.request("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": {"start": {"line": 150, "character": 0},
                                                    "end": {"line": 153, "character": 0}},
            "context": {"diagnostics": []}}))

        # routerls.run overhead beyond the model call
        answer = "```python\ndef function_50(a, b):\n    return a * 50 + b + 1\n```"
        models.default({"text": answer, "chunks": 8, "prompt_tokens": 300, "completion_tokens": 30})
        run_args = {"action": "refactor", "uri": uri, "version": 1,
                    "range": {"start": {"line": 150, "character": 0}, "end": {"line": 152, "character": 0}}}
        run_ms = []
        for i in range(args.runs + 3):
            started = time.perf_counter()
            result = ours.request("workspace/executeCommand",
                                  {"command": "routerls.run", "arguments": [run_args]})
            assert result["state"] == "done", result
            if i >= 3:
                run_ms.append((time.perf_counter() - started) * 1000)
        ours.close()
        messages = models.requests[-1].messages  # the very prompt the server sent
        direct_ms = asyncio.run(time_direct_litellm(models.url, messages, args.runs))
        results["run_ms_p50"] = statistics.median(run_ms)
        results["direct_litellm_ms_p50"] = statistics.median(direct_ms)
        results["run_overhead_ms_p50"] = results["run_ms_p50"] - results["direct_litellm_ms_p50"]
    finally:
        models.stop()

    goals = {"code_action_ratio_p50": 1.2, "initialize_s": 0.5, "rss_after_initialize_mb": 80,
             "run_overhead_ms_p50": 25}
    ca, em = results["code_action_ms"], results["empty_pygls_ms"]
    rows = [
        ("codeAction p50 / p99 (ms)", f"{ca['p50']:.3f} / {ca['p99']:.3f}", ""),
        ("empty pygls p50 / p99 (ms)", f"{em['p50']:.3f} / {em['p99']:.3f}", ""),
        ("codeAction ratio p50 / p99", (f"{results['code_action_ratio_p50']:.2f} / "
                                        f"{results['code_action_ratio_p99']:.2f}"), "≤ 1.2"),
        ("spawn → initialize (s)", f"{results['initialize_s']:.3f}", "≤ 0.5"),
        ("empty pygls spawn → initialize (s)", f"{results['empty_pygls_initialize_s']:.3f}", ""),
        ("RSS after initialize (MB)", f"{results['rss_after_initialize_mb']:.1f}", "≤ 80"),
        ("RSS after litellm warm (MB)", f"{results['rss_after_warm_mb']:.1f}", ""),
        ("routerls.run p50 (ms)", f"{results['run_ms_p50']:.1f}", ""),
        ("litellm.acompletion p50 (ms)", f"{results['direct_litellm_ms_p50']:.1f}", ""),
        ("server time per run (ms)", f"{results['run_overhead_ms_p50']:.1f}", "≤ 25"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>17}  goal")
    for name, value, goal in rows:
        print(f"{name:<{width}}  {value:>17}  {goal}")
    results["goals_met"] = {k: results[k] <= v for k, v in goals.items()}
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
