"""Secrets stay home: prompts to remote tiers are redacted (and answers restored), `local_only`
files never leave the local tier, and the ledger keeps prompts only when asked to."""

from __future__ import annotations

import asyncio

import pytest

from routerls import redact, trust
from routerls.engine import Engine
from routerls.layers import load_config
from routerls.ledger import Ledger, default_path
from routerls.request import EngineError, RunRequest
from routerls.text import Range

AWS_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
OPENAI = "sk-proj-abcDEF1234567890abcDEF1234567890"
ANTHROPIC = "sk-ant-api03-ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
GOOGLE = "AIzaSyA1234567890abcdefghijklmnopqrstuv"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq\nq8Zx9vYw==\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize(("text", "secret"), [
    (f'KEY_ID = "{AWS_ID}"\n', AWS_ID),
    (f'aws_secret_access_key = "{AWS_SECRET}"\n', AWS_SECRET),
    (f'client = OpenAI(api_key="{OPENAI}")\n', OPENAI),
    (f'client = Anthropic(api_key="{ANTHROPIC}")\n', ANTHROPIC),
    (f'MAPS = "{GOOGLE}"\n', GOOGLE),
    (f'KEY = """{PEM}"""\n', "MIIEowIBAAKCAQEA7bq"),
    ('{"type": "service_account", "private_key_id": "0123456789abcdef0123456789abcdef01234567"}',
     "0123456789abcdef0123456789abcdef01234567"),
    ('DB = "postgres://admin:hunter2-prod@db.internal:5432/app"\n', "hunter2-prod"),
    ('db_password = "correct-horse-battery"\n', "correct-horse-battery"),
    ('export STRIPE_SECRET_KEY=rk_live_abcdefghijkl\n', "rk_live_abcdefghijkl"),
])
def test_each_secret_shape_is_redacted_and_restored(text: str, secret: str):
    r = redact.Redactor()
    out = r.redact(text)
    assert secret not in out and "REDACTED_SECRET_1" in out
    assert r.restore(out) == text


def test_ordinary_code_is_left_alone():
    code = ('import os\n\napi_key = os.environ["OPENAI_API_KEY"]\npassword = getpass.getpass()\n'
            'URL = "https://example.com/docs?page=2"\ntoken_count = len(tokens)\n'
            'SECRET_KEY = load_secret()\n')
    r = redact.Redactor()
    assert r.redact(code) == code and r.found == 0


def test_the_same_secret_gets_the_same_placeholder_and_restore_touches_only_ours():
    r = redact.Redactor()
    out = r.redact(f"a = '{OPENAI}'\nb = '{OPENAI}'\nc = '{AWS_ID}'\n")
    a, b, c = (line.split("'")[1] for line in out.splitlines())
    assert a == b != c and {a, c} == {"REDACTED_SECRET_1", "REDACTED_SECRET_2"}
    assert r.restore(f"x = {c}  # REDACTED_SECRET_9") == f"x = {AWS_ID}  # REDACTED_SECRET_9"


def test_dotenv_values_and_custom_patterns():
    env = "DEBUG=true\nDATABASE_URL=postgres://u:p4ss@h/db\nGREETING='hello there'\n"
    r = redact.Redactor(dotenv=True)
    out = r.redact(env)
    assert "hello there" not in out and "p4ss" not in out and "true" not in out
    assert r.restore(out) == env
    custom = redact.Redactor([r"internal-token-(\w+)"])
    assert "abc123" not in custom.redact("t = 'internal-token-abc123'")


@pytest.mark.parametrize(("path", "expected"), [
    ("/ws/.env", ".env*"), ("/ws/.env.production", ".env*"), ("/ws/app/certs/server.pem", "*.pem"),
    ("/ws/secrets/prod.yaml", "secrets/**"), ("/ws/app/secrets/deep/x.txt", "secrets/**"),
    ("/ws/app/main.py", None), ("/ws/secretsmanager.py", None), ("/ws/environment.py", None),
])
def test_local_only_globs(path: str, expected: str | None):
    assert redact.local_only_match(path, redact.DEFAULT_LOCAL_ONLY, "/ws") == expected


def test_url_password_is_hidden():
    assert redact.url_without_password("https://bob:pa55@host:8080/v1") == "https://bob:***@host:8080/v1"
    assert redact.url_without_password("http://127.0.0.1:8012/v1") == "http://127.0.0.1:8012/v1"


# --- through the engine, against the scripted model server --------------------------------------

SOURCE = f'import os\n\n\ndef client():\n    return Client(key="{OPENAI}", aws="{AWS_ID}")\n'
RANGE = Range.of(3, 0, 5, 0)


def _engine(project, extra: str = "", store_prompts: bool = False) -> Engine:
    if extra:
        (project / ".routerls.yaml").write_text(extra)
        trust.trust(project, trust.digest(extra.encode()))  # it weakens redaction: the user trusts it
    config = load_config(project)
    return Engine(config, Ledger(default_path(), store_prompts=store_prompts))


def _req(project, name: str = "app.py", tier: str | None = None, text: str = SOURCE) -> RunRequest:
    return RunRequest(action="refactor", path=str(project / name), text=text, range=RANGE, tier=tier,
                      workspace_root=str(project))


def _sent(model_server) -> str:
    return "\n".join(str(m.get("content")) for r in model_server.requests for m in r.messages)


def test_remote_prompt_is_redacted_and_the_edit_keeps_the_real_secret(project, model_server):
    # the model copies the placeholders back, as a rewrite does
    def rewrite(request):
        line = next(x for x in request.last_user.splitlines() if "Client(" in x)
        return f"```python\ndef client():\n{line.replace('Client(', 'Client.create(')}\n```"

    model_server.rule(fn=rewrite)
    engine = _engine(project)
    result = asyncio.run(engine.run(_req(project)))
    assert result.outcome == "ok", result.message
    sent = _sent(model_server)
    assert OPENAI not in sent and AWS_ID not in sent and "REDACTED_SECRET_1" in sent
    from routerls.edits import apply_edits

    after = apply_edits(SOURCE, result.edit.edits)
    assert "Client.create(" in after and OPENAI in after and AWS_ID in after
    assert "REDACTED_SECRET" not in after
    assert all(r.prompt is None for r in engine.ledger.rows())  # store_prompts is off


def test_redaction_can_be_turned_off(project, model_server):
    model_server.default("```python\ndef client():\n    return None\n```")
    engine = _engine(project, "redact: {enabled: false}\n")
    assert asyncio.run(engine.run(_req(project))).outcome == "ok"
    assert OPENAI in _sent(model_server)


def test_the_local_tier_sees_the_real_text(project, model_server):
    model_server.default("```python\ndef client():\n    return None\n```")
    engine = _engine(project)
    result = asyncio.run(engine.run(_req(project, tier="local")))
    assert result.outcome == "ok" and result.tier == "local"
    assert OPENAI in _sent(model_server)


@pytest.mark.parametrize("name", [".env", "secrets/db.py", "certs/key.pem"])
def test_local_only_files_never_leave_the_local_tier(project, model_server, name):
    model_server.script({"status": 500}, {"status": 500}, {"status": 500}, model="tiny-local")
    engine = _engine(project)
    for tier in (None, "frontier"):
        plan = engine.plan(_req(project, name, tier=tier))
        assert plan.decision.tier == "local" and plan.decision.pinned
        assert "local_only" in plan.decision.reason
    result = asyncio.run(engine.run(_req(project, name, tier="frontier")))
    assert result.outcome == "error"  # the local model failed: no fallback to a remote tier
    assert {r.model for r in model_server.requests} == {"tiny-local"}


def test_local_only_without_a_local_tier_is_refused(project, model_server):
    import attrs

    engine = _engine(project)

    engine.config = attrs.evolve(engine.config, tiers={k: v for k, v in engine.config.tiers.items()
                                                       if k != "local"},
                                 tasks={k: ("cheap" if v == "local" else v)
                                        for k, v in engine.config.tasks.items()})
    with pytest.raises(EngineError, match="local_only"):
        engine.plan(_req(project, ".env.local"))


def test_ledger_stores_prompts_only_when_asked_and_then_redacted(project, model_server):
    model_server.default("```python\ndef client():\n    return None\n```")
    off = _engine(project)
    assert asyncio.run(off.run(_req(project))).outcome == "ok"
    assert [r.prompt for r in off.ledger.rows()] == [None]
    on = _engine(project, "ledger: {store_prompts: true}\n", store_prompts=True)
    result = asyncio.run(on.run(_req(project)))
    stored = [r.prompt for r in on.ledger.rows(result.request_id)]
    assert stored and stored[0] and "def client" in stored[0]
    assert OPENAI not in stored[0] and "REDACTED_SECRET" in stored[0]
