"""Shared fixtures: the scripted model server (in-process and as a process) and a private data dir.

No test reaches the network: models are the scripted server on 127.0.0.1, and litellm reads its
bundled price map.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_TELEMETRY", "False")

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


def pytest_configure(config):
    # litellm 1.110 touches deprecated pydantic attributes on every streamed chunk; not ours to fix
    config.addinivalue_line("filterwarnings", "ignore:Accessing the 'model_:DeprecationWarning")
