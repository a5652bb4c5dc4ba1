"""Nothing reaches the internet at run time: litellm would fetch the tokenizers of llama-2/-3 and
cohere model names from the Hugging Face hub (a user's `openai/llama-3-8b-instruct` on a local
vLLM, say). A process pointed at a proxy of ours shows every attempt as a CONNECT."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest

WARM = ("from routerls.backends import litellm as gateway; "
        "gateway.warm(['openai/llama-3-70b-instruct', 'cohere/command-r', 'openai/llama-2-7b'])")


@pytest.mark.slow  # a process that imports litellm
def test_counting_tokens_for_hub_tokenizer_models_asks_no_hub(tmp_path):
    proxy = socket.socket()
    proxy.bind(("127.0.0.1", 0))
    proxy.listen(8)
    proxy.settimeout(0.2)
    seen: list[bytes] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = proxy.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                seen.append(conn.recv(200))

    watcher = threading.Thread(target=accept, daemon=True)
    watcher.start()
    url = f"http://127.0.0.1:{proxy.getsockname()[1]}"
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "NO_PROXY", "no_proxy")}
    env.update(HTTPS_PROXY=url, HTTP_PROXY=url, https_proxy=url, http_proxy=url, HOME=str(tmp_path),
               LITELLM_LOCAL_MODEL_COST_MAP="True")
    try:
        done_run = subprocess.run([sys.executable, "-c", WARM], env=env, capture_output=True, text=True, check=False,
                                  timeout=90)
    finally:
        done.set()
        watcher.join(5)
        proxy.close()
    assert done_run.returncode == 0, done_run.stderr[-2000:]
    assert seen == [], f"tried to reach: {[s.split(b' ')[1] for s in seen]}"
