"""Redaction by value: once any rule finds a secret, every occurrence of it is replaced — in
comments, strings, other calls, every message — and restored in the answer. Secret names are
matched across spellings; values of any length, with spaces, are caught; expressions are not
mistaken for secrets. The property test goes through the engine to the scripted model server
over HTTP and looks at what the server received."""

from __future__ import annotations

import asyncio
import io
import re
import string
import tokenize

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routerls import redact
from routerls.edits import apply_edits
from routerls.engine import Engine
from routerls.layers import load_config
from routerls.ledger import Ledger, default_path
from routerls.request import RunRequest
from routerls.text import Range, split_lines


def test_a_redacted_value_is_replaced_wherever_it_occurs():
    code = 'password = "hunter2"\n\n\ndef login():\n    return check("admin", "hunter2")  # hunter2\n'
    r = redact.Redactor(language="python")
    out = r.redact(code)
    assert "hunter2" not in out and out.count("REDACTED_SECRET_1") == 3
    assert r.restore(out) == code


def test_a_secret_found_in_one_message_is_replaced_in_all():
    r = redact.Redactor(language="python")
    sent = r.messages([{"role": "system", "content": "Never print s3cret-x."},
                       {"role": "user", "content": 'db_pass = "s3cret-x"'}])
    assert all("s3cret-x" not in m["content"] for m in sent)


@pytest.mark.parametrize("line", [
    'db_pass = "a"', "admin_pw = 'x1'", 'dbPassword = "pw"', 'DB_PASSWORD = "p"', 'userPwd = "12"',
    'passphrase = "correct horse battery staple"', 'client_secret = "abc"', 'csrf_token = "t"',
    'aws_credentials = "c"', 'cfg = {"api-key": "k"}', 'connect(passphrase="two words")',
    'ok = adminPw == "zz"', "db_pass: str = 'typed'", "const apiToken = `tick`;",
])
def test_secret_names_in_any_spelling_and_values_of_any_length(line: str):
    value = re.findall(r"""["'`]([^"'`]+)["'`]\W*$""", line)[-1]
    r = redact.Redactor(language="python")
    out = r.redact(line + "\n")
    assert value not in out.split("=", 1)[-1] and r.restore(out) == line + "\n", out


@pytest.mark.parametrize(("text", "secret"), [
    ("db_password: hunter two  # prod\n", "hunter two"),
    ("export ADMIN_PW=s3\n", "s3"),
    ("[db]\npass = open sesame\n", "open sesame"),
    ("Authorization: Bearer abcdefgh12345678\n", "abcdefgh12345678"),
])
def test_bare_values_in_config_files_and_scripts(text: str, secret: str):
    r = redact.Redactor(language="yaml")
    out = r.redact(text)
    assert secret not in out and r.restore(out) == text


@pytest.mark.parametrize("code", [
    "password_field = form.password\n",
    "token = get_token()\n",
    "api_key = os.environ['OPENAI_API_KEY']\n",
    "max_tokens = 100\n",
    "tokens = tokenizer('text')\n",
    "compass = 'north'\n",
    "bypass = 'yes please'\n",
    "password = None\n",
])
def test_expressions_and_lookalike_names_are_left_alone(code: str):
    """In code a bare value is an expression, and `tokens`, `compass` or `bypass` name no secret:
    redacting them would cost the model its context for nothing."""
    for language in ("python", None):
        r = redact.Redactor(language=language)
        assert r.redact(code) == code and r.found == 0, (language, code)


# --- the property, through the engine and the scripted model server ---------------------------

BASE = '''import os


def check(user, given):
    """Compare the login of the user."""
    message = "checking the login now"
    return user == "admin" and given == os.environ.get("X")  # compare both


LABEL = "the label"  # shown to people
'''
FORMS = ['{name} = "{secret}"', "{name}: str = '{secret}'", 'CONFIG = {{"{name}": "{secret}"}}',
         'conn = connect({name}="{secret}")', 'ok = {name} == "{secret}"']
NAMES = ["db_pass", "admin_pw", "dbPassword", "DB_PASSWORD", "passphrase", "client_secret", "api_token",
         "userPwd", "aws_credentials"]
LINE_STARTS = [0, 3, len(split_lines(BASE)) - 2]  # top-level places for the definition


def _slots(code: str) -> list[int]:
    """Offsets inside string literals and comments, where a secret keeps the code valid."""
    starts = [0]
    for line in code.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type in (tokenize.STRING, tokenize.COMMENT):
            a = starts[tok.start[0] - 1] + tok.start[1]
            b = starts[tok.end[0] - 1] + tok.end[1]
            out += range(a + 1, b - (1 if tok.type == tokenize.STRING else 0))
    return out


SLOTS = _slots(BASE)
# no quotes, backslashes, '#', '@', '-' or newlines (they would end the literal, or make another
# rule's shape); no capitals or '_' (a placeholder is made of those); first character not a digit
_ALPHABET = string.ascii_lowercase + string.digits + " !%^&*+=.,:;?/~"
SECRETS = st.text(_ALPHABET, min_size=1, max_size=16).filter(
    lambda s: s[0] not in string.digits and s.strip() != "")


def _selection_echo(request) -> str:
    """A model that returns the selection it was sent (the last fenced block), with a statement
    on top (a refactor that changes nothing is rejected): placeholders and all, as a rewrite
    copies them."""
    lines = request.last_user.split("\n")
    close = max(i for i, x in enumerate(lines) if re.fullmatch(r"`{3,}", x))
    fence = lines[close]
    start = max(i for i in range(close) if lines[i].startswith(fence) and lines[i] != fence)
    body = "\n".join(lines[start + 1:close])
    return f"```python\nREVIEWED = True\n{body}\n```"


def test_a_secret_anywhere_any_number_of_times_never_reaches_a_remote_model(project, model_server):
    engine = Engine(load_config(project), Ledger(default_path()))
    model_server.rule(fn=_selection_echo)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(secret=SECRETS, form=st.sampled_from(FORMS), name=st.sampled_from(NAMES),
           where=st.sampled_from(LINE_STARTS), copies=st.lists(st.sampled_from(SLOTS), min_size=1, max_size=6))
    def check(secret: str, form: str, name: str, where: int, copies: list[int]) -> None:
        code = BASE
        for offset in sorted(copies, reverse=True):
            code = code[:offset] + secret + code[offset:]
        lines = code.split("\n")
        lines.insert(where, form.format(name=name, secret=secret))
        code = "\n".join(lines)
        model_server.reset()
        model_server.rule(fn=_selection_echo)
        last = split_lines(code)
        req = RunRequest(action="refactor", path=str(project / "app.py"), text=code,
                         range=Range.of(0, 0, len(last) - 1, len(last[-1])), tier="cheap",
                         workspace_root=str(project))
        result = asyncio.run(engine.run(req))
        assert result.outcome == "ok", result.message
        sent = [str(m.get("content")) for r in model_server.requests for m in r.messages]
        assert sent and all(secret not in text for text in sent)
        after = apply_edits(code, result.edit.edits)
        # every real value back where it was (counting the secret in `after` would also count
        # it inside the added line: "r" is in "True")
        assert after == "REVIEWED = True\n" + code and "REDACTED_SECRET" not in after

    check()


@pytest.mark.parametrize("text", [
    "password: a" + "()" * 5000 + "x\n",  # nested repetition would backtrack 2**5000 ways
    "password: a" + "[]" * 5000 + "x\n",
    'password = "' + "a" * 100_000 + "\n",  # an unclosed quote
    "pw:" * 20_000 + "\n",
])
def test_hostile_lines_are_redacted_in_linear_time(text: str):
    import time

    started = time.perf_counter()
    redact.Redactor(language="yaml").redact(text)
    assert time.perf_counter() - started < 5
