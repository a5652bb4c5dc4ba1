"""Shared fixtures: the scripted model server (in-process and as a process) and a private data dir.

No test reaches the network: models are the scripted server on 127.0.0.1, and litellm reads its
bundled price map.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_TELEMETRY", "False")
# a local runtime a test starts should not outlive the test run by half an hour
os.environ.setdefault("ROUTERLS_LOCAL_IDLE_S", "60")

from modelserver import ModelServer, ModelServerProcess, Reply

__all__ = ["Reply"]


@pytest.fixture(scope="session")
def _model_server_session():
    with ModelServer() as server:
        yield server


@pytest.fixture
def model_server(_model_server_session: ModelServer) -> ModelServer:
    """The in-process scripted server, with empty scripts and request log for each test."""
    _model_server_session.reset()
    yield _model_server_session
    _model_server_session.reset()


@pytest.fixture
def model_server_process():
    """The scripted server as a child process (for tests whose server runs in another process);
    script it with the same `.script()`/`.rule()`/`.default()` calls, sent over HTTP."""
    server = ModelServerProcess()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory, monkeypatch):
    """Keep every test's ledger out of the user's real data dir."""
    monkeypatch.setenv("ROUTERLS_DATA_DIR", str(tmp_path_factory.mktemp("data")))


# Files that must share one xdist worker (and run there in order) with others: the fault matrix
# has one server for the whole folder (its conftest.py; the last file checks the ledger all of
# them left), and the two editor files that build and package vscode-client/ (routerls.vsix).
SHARED_WORKER = {"tests/lsp/faults/": "tests/lsp/faults",
                 "tests/editors/test_editor_vscode.py": "vscode-client",
                 "tests/editors/test_editor_codeserver.py": "vscode-client"}


def pytest_xdist_make_scheduler(config, log):
    """scripts/test.sh's parallel run: a file's tests go to one worker, in order (a module's
    tests often share one server), and the files of `SHARED_WORKER` go together. (xdist's own
    `xdist_group` marks are not applied under pytest 9.2: the node ids never get their group.)"""
    from xdist.scheduler import LoadFileScheduling

    class SharedFiles(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return next((group for prefix, group in SHARED_WORKER.items() if path.startswith(prefix)), path)

    return SharedFiles(config, log)


def pytest_configure(config):
    # litellm 1.110 touches deprecated pydantic attributes on every streamed chunk; not ours to fix
    config.addinivalue_line("filterwarnings", "ignore:Accessing the 'model_:DeprecationWarning")


SAMPLE = """\
import math

def area(shape, size):
    if shape = "circle":
        return math.pi * size ** 2
    if shape == "square":
        return size * size
    raise ValueError(shape)

print(area("square", 2))
"""
# lines 3-9 of SAMPLE as a correct `fix` answers them
FIXED_LINES = """\
def area(shape, size):
    if shape == "circle":
        return math.pi * size ** 2
    if shape == "square":
        return size * size
    raise ValueError(shape)
"""


@pytest.fixture
def project(tmp_path, model_server, monkeypatch):
    """A workspace whose tiers all point at the scripted server (cheap/mid priced by litellm)."""
    url = model_server.url
    (tmp_path / ".git").mkdir()
    (tmp_path / "sample.py").write_text(SAMPLE)
    config = tmp_path / "routerls.yaml"
    config.write_text(f"""
tiers:
  local:
    models: [{{model: openai/tiny-local, api_base: "{url}", price: {{input_per_mtok: 0, output_per_mtok: 0}}}}]
  cheap:
    models: [{{model: openai/gpt-4o-mini, api_base: "{url}"}}]
  mid:
    models: [{{model: openai/gpt-4o, api_base: "{url}", timeout_s: 1}},
             {{model: openai/gpt-4.1-mini, api_base: "{url}"}}]
  frontier:
    models: [{{model: openai/gpt-4.1, api_base: "{url}", price: {{input_per_mtok: 2.5, output_per_mtok: 10}}}}]
tasks: {{fix: cheap, explain: cheap, docstring: local, format: local, tests: mid, refactor: mid, design: frontier}}
gateway: {{timeout_s: 5, retries: 2, backoff_s: 0.01}}
budgets: {{daily_usd: 2.0, monthly_usd: 20.0, on_exceed: downgrade}}
""")
    monkeypatch.setenv("ROUTERLS_CONFIG", str(config))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    return tmp_path



def ledger_rows():
    """Every row of this test's ledger, oldest first."""
    from routerls.ledger import Ledger, default_path

    with Ledger(default_path()) as ledger:
        return ledger.rows()
