"""The local tier without llama.cpp: small-model prompts, which models can answer on this machine
(keys, Ollama, the embedded runtime), and the worker's OpenAI routes driven with a stand-in model.

These run everywhere; `test_local_runtime.py` runs the real models when `routerls[local]` is in.
"""

from __future__ import annotations

import ast
import asyncio
import threading

import pytest

from routerls import prompts
from routerls.actions import BUILTIN, find
from routerls.backends import availability
from routerls.backends import litellm as gateway
from routerls.backends.local import control, models, runtime
from routerls.backends.local import worker as local_worker
from routerls.config import GatewaySettings, ModelEntry
from routerls.layers import structure

# --- completion templates ------------------------------------------------------------------------


def test_docstring_template_ends_at_the_opening_quotes_after_worked_examples():
    cp = prompts.docstring_completion("def area(w, h):\n    return w * h\n")
    assert cp is not None
    assert cp.prompt.endswith('# With docstring:\ndef area(w, h):\n    """')
    assert cp.prompt.count("# With docstring:") == len(prompts._DOCSTRING_SHOTS) + 1
    assert "# Code:\ndef area(w, h):\n    return w * h\n" in cp.prompt  # the model sees the body
    assert cp.stop == ('"""', "\n")


def test_the_continuation_becomes_the_selection_with_its_docstring():
    selection = "    def area(self, w, h):\n        return w * h\n"
    cp = prompts.docstring_completion(selection)
    answer = cp.finish(' return the area of a w by h rectangle')
    assert answer == ('```python\n    def area(self, w, h):\n'
                      '        """Return the area of a w by h rectangle."""\n'
                      '        return w * h\n```')
    # the model saw the method dedented, as the examples are
    assert cp.prompt.endswith("def area(self, w, h):\n    \"\"\"")


def test_a_multi_line_signature_gets_its_docstring_after_the_colon():
    selection = "def scale(points,\n          factor=2):\n    return [p * factor for p in points]\n"
    code = prompts.docstring_completion(selection).finish("Scale every point.")
    body = code.removeprefix("```python\n").removesuffix("\n```")
    tree = ast.parse(body)
    assert ast.get_docstring(tree.body[0]) == "Scale every point."


def test_a_selection_of_only_the_header_still_gets_a_body_indent():
    cp = prompts.docstring_completion("def f(x):")
    assert cp.finish("Do f.").endswith('def f(x):\n    """Do f."""\n```')


@pytest.mark.parametrize("selection", [
    'def f():\n    """Already documented."""\n    return 1\n',
    "def f():\n    return 1\n\n\ndef g():\n    return 2\n",  # two definitions: one call writes one
    "x = 1\n",
    "def f(): return 1\n",
])
def test_the_template_declines_what_a_continuation_cannot_do(selection):
    assert prompts.docstring_completion(selection) is None


def test_only_python_has_a_template():
    assert prompts.completion_prompt("docstring", "function f() {}", "javascript") is None
    assert prompts.completion_prompt("format", "def f():\n    pass\n", "python") is None


@pytest.mark.parametrize(("raw", "line"), [
    (" return the sum.", "Return the sum."),
    ('Return x."', "Return x."),
    ("Split on \\n", "Split on n."),
    ("   ", ""),
    ("...", ""),
])
def test_generated_lines_are_cleaned_so_the_string_cannot_break(raw, line):
    assert prompts._clean_docstring(raw) == line


def test_an_unusable_continuation_is_an_empty_answer():
    assert prompts.docstring_completion("def f():\n    pass\n").finish('"""') == ""


# --- chat few-shot and the choice of prompt -----------------------------------------------------

def test_a_small_chat_model_gets_one_worked_example_and_only_the_selection():
    msgs = prompts.few_shot_messages("format", "    x=1\n", "python")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[-1]["content"].endswith("```python\nx=1\n```")
    assert prompts.few_shot_messages("explain", "x = 1\n", "python") is None


def _entry(style: str) -> ModelEntry:
    return ModelEntry(model="openai/m", api_base="http://127.0.0.1:1/v1", style=style)


def test_the_prompt_follows_the_model_style():
    docstring, fmt = find(BUILTIN, "docstring"), find(BUILTIN, "format")
    default = [{"role": "user", "content": "ordinary"}]
    code = "def f(x):\n    return x\n"
    got = prompts.for_model(docstring, code, "python", None, "completion", True, default)
    assert isinstance(got, prompts.CompletionPrompt)
    assert prompts.for_model(fmt, code, "python", None, "completion", True, default) is None
    assert prompts.for_model(docstring, code, "python", "in French", "completion", True, default) is None
    assert prompts.for_model(fmt, code, "python", None, "chat", True, default)[0]["content"] == prompts.SMALL_SYSTEM
    assert prompts.for_model(fmt, code, "python", None, "chat", False, default) is default


# --- which models can answer here -----------------------------------------------------------------

CONFIG = {
    "tiers": {
        "local": {"models": [{"model": "openai/coder", "api_base": "http://127.0.0.1:9/v1"}]},
        "cheap": {"models": [{"model": "gemini/gemini-2.0-flash", "api_key_env": "GEMINI_API_KEY"}]},
        "mid": {"models": [{"model": "anthropic/claude-haiku-4-5", "api_key_env": "ANTHROPIC_API_KEY"}]},
        "frontier": {"models": [{"model": "anthropic/claude-sonnet-4-5"}]},
    },
    "tasks": {"fix": "mid", "docstring": "local"},
}


def _chain(config, tier):
    order = config.tier_order
    return [(t, m) for t in order[order.index(tier):] for m in config.tiers[t].models]


def test_without_keys_a_cloud_tier_falls_back_to_local_and_says_why():
    config = structure(CONFIG)
    got = availability.prepare_sync(config, "mid", _chain(config, "mid"), environ={})
    assert [(t, m.model) for t, m in got.chain] == [("local", "openai/coder")]
    # the routed tier's reason first, then each tier passed on the way down
    assert got.notes == ("no ANTHROPIC_API_KEY, no GEMINI_API_KEY: used local",)


def test_with_a_key_the_tier_runs_and_keyless_stronger_models_are_named():
    config = structure(CONFIG)
    got = availability.prepare_sync(config, "mid", _chain(config, "mid"), environ={"ANTHROPIC_API_KEY": "k"})
    assert [t for t, _ in got.chain] == ["mid", "frontier"]
    assert got.notes == ()


def test_a_pinned_tier_never_falls_back_and_the_error_says_what_to_do():
    config = structure(CONFIG)
    got = availability.prepare_sync(config, "cheap", [("cheap", config.tiers["cheap"].models[0])],
                             pinned=True, environ={})
    assert got.chain == ()
    assert "no GEMINI_API_KEY" in got.notes[0] and "install-local.sh" in got.notes[0]


def test_keys_are_known_for_entries_that_do_not_name_their_variable():
    assert availability.missing_key(ModelEntry(model="anthropic/claude-sonnet-4-5"), {}) == "ANTHROPIC_API_KEY"
    assert availability.missing_key(ModelEntry(model="openai/x", api_base="http://127.0.0.1:8/v1"), {}) is None
    assert availability.missing_key(ModelEntry(model="openai/x", api_base="http://localhost:8/v1",
                                        api_key_env="K"), {}) is None  # loopback takes any key
    assert availability.missing_key(ModelEntry(model="some-new-provider/x"), {}) is None


def test_an_embedded_model_without_the_runtime_is_skipped_with_the_install_hint(monkeypatch):
    monkeypatch.setattr(models, "runtime_installed", lambda: False)
    config = structure({"tiers": {
        "local": {"models": [{"model": "openai/gemma-3-270m-q4_k_m.gguf", "api_base": "http://127.0.0.1:1/v1",
                              "style": "completion"}]},
        "cheap": {"models": [{"model": "openai/coder", "api_base": "http://127.0.0.1:9/v1"}]}},
        "tasks": {"docstring": "local"}})
    got = availability.prepare_sync(config, "local", _chain(config, "local"), environ={})
    assert [m.model for _, m in got.chain] == ["openai/coder"]
    assert "xllamacpp (llama.cpp) is not installed" in got.notes[0]
    assert "install-local.sh" in got.notes[0]


def test_embedded_means_a_known_model_on_loopback():
    gemma = "openai/gemma-3-270m-q4_k_m.gguf"
    assert models.is_embedded(ModelEntry(model=gemma, api_base="http://127.0.0.1:8012/v1"))
    assert not models.is_embedded(ModelEntry(model=gemma, api_base="https://api.x.com/v1"))
    assert not models.is_embedded(ModelEntry(model="openai/coder", api_base="http://127.0.0.1:8012/v1"))


def test_the_built_in_local_tier_is_free_and_embedded():
    from routerls.layers import DEFAULTS_PATH, load_config

    config = load_config(files=[DEFAULTS_PATH])
    entries = config.tiers["local"].models
    assert [(e.name, e.style) for e in entries] == [("gemma-3-270m-q4_k_m.gguf", "completion"),
                                                   ("SmolLM2-135M-Instruct.Q4_1.gguf", "chat")]
    assert all(models.is_embedded(e) and e.price.output_per_mtok == 0 for e in entries)
    assert all(e.api_key_env is None for e in entries)


def test_ollama_is_used_when_it_answers(model_server, monkeypatch):
    monkeypatch.setenv("ROUTERLS_OLLAMA_URL", model_server.ollama_url)
    config = structure({"tiers": {"local": {"models": [{"model": "ollama_chat/gemma3:27b"}]}},
                        "tasks": {"docstring": "local"}})
    got = availability.prepare_sync(config, "local", _chain(config, "local"), environ={})
    assert [m.api_base for _, m in got.chain] == [model_server.ollama_url]


def test_ollama_is_skipped_when_nothing_answers(monkeypatch):
    monkeypatch.setenv("ROUTERLS_OLLAMA_URL", "http://127.0.0.1:9")
    config = structure({"tiers": {
        "local": {"models": [{"model": "ollama_chat/gemma3:27b"},
                             {"model": "openai/coder", "api_base": "http://127.0.0.1:9/v1"}]}},
        "tasks": {"docstring": "local"}})
    got = availability.prepare_sync(config, "local", _chain(config, "local"), environ={})
    assert [m.model for _, m in got.chain] == ["openai/coder"]
    assert got.notes == ("skipped no Ollama answering at http://127.0.0.1:9 (local)",)


# --- the worker's routes, with a stand-in model --------------------------------------------------

class FakeLlama:
    """Answers like xllamacpp's `Server` (llama.cpp's server code): one callback per streamed
    chunk, opened with the role and closed with a reason on chat, usage last when asked."""

    def __init__(self, words: list[str]):
        self.words = words
        self.requests: list[dict] = []

    def _chunks(self, request: dict, chat: bool):
        if chat:
            yield {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None},
                                "finish_reason": None}]}
        for word in self.words:
            yield ({"choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]} if chat
                   else {"choices": [{"index": 0, "text": word, "finish_reason": None}]})
        yield {"choices": [{"index": 0, "delta": {} if chat else None, "text": "",
                            "finish_reason": "stop"}]}
        if (request.get("stream_options") or {}).get("include_usage"):
            n = len(self.words)
            yield {"choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": n,
                                            "total_tokens": 30 + n}}

    def _handle(self, request: dict, callback, chat: bool):
        self.requests.append(request)
        assert request["stream"] and callback is not None
        for chunk in self._chunks(request, chat):
            chunk.update(id="c", created=1, object="chat.completion.chunk" if chat else "text_completion")
            if callback(chunk):
                break

    def handle_completions(self, request, callback=None):
        return self._handle(request, callback, chat=False)

    def handle_chat_completions(self, request, callback=None):
        return self._handle(request, callback, chat=True)


@pytest.fixture
def worker():
    models = {
        "base": local_worker._Loaded("base", "/m/base.gguf", "completion", FakeLlama(["Return", " the", " area."])),
        "chat": local_worker._Loaded("chat", "/m/chat.gguf", "chat",
                              FakeLlama(["```python\n", "x = 1\n", "```"])),
    }
    server = local_worker._Worker(("127.0.0.1", 0), models, idle_exit_s=600)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_the_worker_lists_its_models(worker):
    assert runtime.served_models(worker) == ["base", "chat"]


def test_a_completion_model_answers_through_the_gateway_and_finish_builds_the_code(worker):
    entry = ModelEntry(model="openai/base", api_base=worker, style="completion",
                       price=None)
    cp = prompts.docstring_completion("def area(w, h):\n    return w * h\n")
    got = asyncio.run(gateway.complete([], [("local", entry)], GatewaySettings(retries=0),
                                       prompt_for=lambda e: cp))
    assert got.text == '```python\ndef area(w, h):\n    """Return the area."""\n    return w * h\n```'
    assert got.output_tokens == 3 and got.input_tokens == 30
    assert got.cost_usd == 0.0


def test_the_gateway_passes_over_a_base_model_the_action_has_no_template_for(worker):
    base = ModelEntry(model="openai/base", api_base=worker, style="completion")
    chat = ModelEntry(model="openai/chat", api_base=worker)
    got = asyncio.run(gateway.complete([], [("local", base), ("local", chat)], GatewaySettings(retries=0),
                                       prompt_for=lambda e: None if e.style == "completion"
                                       else [{"role": "user", "content": "go"}]))
    assert got.entry == chat and got.text == "```python\nx = 1\n```"
    assert got.output_tokens == 3 and got.input_tokens == 30
    assert [a.model for a in got.attempts] == ["openai/chat"]


def test_a_base_model_refuses_chat_with_a_clear_error(worker):
    import json
    import urllib.error
    import urllib.request

    req = urllib.request.Request(worker + "/chat/completions", method="POST",
                                 data=json.dumps({"model": "base", "messages": []}).encode())
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    assert info.value.code == 400
    assert "without a chat template" in info.value.read().decode()


# --- `routerls local` -------------------------------------------------------------------------------

def test_local_status_names_the_runtime_the_models_and_ollama(monkeypatch):
    monkeypatch.setenv("ROUTERLS_OLLAMA_URL", "http://127.0.0.1:9")
    config = structure({"tiers": {"local": {"models": [
        {"model": "openai/SmolLM2-135M-Instruct.Q4_1.gguf", "api_base": "http://127.0.0.1:9/v1"}]}},
        "tasks": {"format": "local"}})
    code, lines = control.command("status", config)
    assert code == 0
    assert lines[0].startswith("runtime: xllamacpp (llama.cpp) ")
    assert any(line.startswith("model gemma-3-270m-q4_k_m.gguf: ") for line in lines)
    assert "ollama at http://127.0.0.1:9: not answering" in lines
    assert lines[-1].startswith("runtime at http://127.0.0.1:9/v1: not running")


def test_local_serve_without_an_embedded_model_says_so():
    config = structure({"tiers": {"local": {"models": [{"model": "ollama_chat/gemma3:27b"}]}},
                        "tasks": {"format": "local"}})
    code, lines = control.command("serve", config)
    assert code == 2 and "names no embedded model" in lines[-1]


def test_the_cli_has_a_local_command(capsys, tmp_path, monkeypatch):
    from routerls.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ROUTERLS_OLLAMA_URL", "http://127.0.0.1:9")
    # the user's own config: a workspace may not point the local tier anywhere (see trust.py)
    (tmp_path / "routerls.yaml").write_text(
        'tiers: {local: {models: [{model: openai/SmolLM2-135M-Instruct.Q4_1.gguf, api_base: "http://127.0.0.1:9/v1"}]}}\n')
    monkeypatch.setenv("ROUTERLS_CONFIG", str(tmp_path / "routerls.yaml"))
    assert main(["local", "status"]) == 0
    assert "runtime at http://127.0.0.1:9/v1: not running" in capsys.readouterr().out
