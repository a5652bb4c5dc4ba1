"""Secrets stay on this machine: redact them from prompts, and keep secret files local.

Before a prompt goes to a tier other than `local`, every secret found in it is replaced by a
placeholder such as `REDACTED_SECRET_1` — by value: the rules below only find secrets (private
keys, AWS / GCP / OpenAI / Anthropic / GitHub / Slack key shapes, bearer tokens, passwords in
URLs, `.env` values, values of secret-named settings), and then every occurrence of each value
anywhere in the prompt is replaced, so `check("admin", "hunter2")` below `password = "hunter2"`
does not send `hunter2` either. A model that rewrites the code copies the placeholder back,
and `Redactor.restore` puts the real value in its place, so an edit never replaces a user's
secret with a placeholder. Files matching a `local_only` glob (`.env*`, `*.pem`, `secrets/**` by
default) never leave the machine at all: the engine routes them to the local tier (or a tool).

Secret-named: a name with a part `pass`, `pw`, `pwd`, `pin` or `token` (`db_pass`, `adminPw`,
`csrf_token`), or containing `password`, `passwd`, `passphrase`, `secret`, `credential`,
`apikey`, `accesskey`, `privatekey`, `authtoken` (any case and separators: `DB_PASSWORD`,
`dbPassword`, `api-key`). Its value is a secret of any length when it is a string literal
(quotes, spaces and all) — in any file — or, outside code files, a bare value (`.yaml`, `.ini`,
shell, `.properties`). In code a bare value is an expression (`password_field = form.password`,
`token = get_token()`) and stays, except an upper-case `NAME=value` line as in a shell script.

Pure: no I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath, PureWindowsPath
from urllib.parse import urlsplit, urlunsplit

PLACEHOLDER = "REDACTED_SECRET_{n}"
_PLACEHOLDER_RE = re.compile(r"REDACTED_SECRET_(\d+)")

# Each pattern's first group (or the whole match when it has none) is the secret.
BUILTIN_PATTERNS: tuple[tuple[str, str], ...] = (
    ("private key", r"-----BEGIN[A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z ]*PRIVATE KEY-----|\Z)"),
    ("AWS access key id", r"\b((?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16})\b"),
    ("AWS secret access key",
     r"(?i)aws_?secret_?(?:access_?)?key\s*[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{40})\b"),
    ("Google API key", r"\b(AIza[0-9A-Za-z_\-]{35})"),
    ("GCP service-account key", r"\"private_key_id\"\s*:\s*\"([0-9a-f]{40})\""),
    ("Anthropic key", r"\b(sk-ant-[A-Za-z0-9_\-]{20,})"),
    ("OpenAI key", r"\b(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,})"),
    ("GitHub token", r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{40,})"),
    ("Slack token", r"\b(xox[abprs]-[A-Za-z0-9-]{10,})"),
    ("bearer token", r"\bBearer\s+([A-Za-z0-9._~+/\-]{8,}=*)"),
    ("password in a URL", r"\b[a-z][a-z0-9+.\-]*://[^\s:/@\"']+:([^\s@/\"']+)@"),
)
# In a `.env` file every value is a secret.
_DOTENV_VALUE = r"(?m)^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=\s*[\"']?([^\s\"'#][^\"'\r\n#]*?)[\"']?\s*$"

_NAME = r"(?<![\w\-$])(?P<name>[A-Za-z_$][\w\-]*)"
# `name = "value"`, `name: str = 'v'`, `"name": "value"`, `f(name="value")`, `name == "value"`
_NAMED_LITERAL = re.compile(
    _NAME + r"""["']?(?:[ \t]*:[ \t]*[A-Za-z_][\w.\[\], |]*?(?=[ \t]*=[^=]))?"""  # a type annotation
    r"""[ \t]*(?:==|!=|:=|=|:)[ \t]*(?:[rRbBuU]{0,2})"""
    r"""(?:"(?P<d>(?:[^"\\\r\n]|\\.)+)"|'(?P<s>(?:[^'\\\r\n]|\\.)+)'|`(?P<b>[^`\\]+)`)""")
# `name: value` / `name = value` / `export NAME=value` as a line of a config file or a script
_NAMED_BARE = re.compile(
    r"(?m)^[ \t]*(?:export[ \t]+|-[ \t]+)?" + _NAME
    + r"""[ \t]*[:=][ \t]*(?P<v>[^\s"'`#(\[{|>][^\r\n]*?)[ \t]*(?:[ \t]#.*)?\r?$""")
# in code, only the shell-like upper-case form
_NAMED_UPPER = re.compile(
    r"(?m)^[ \t]*(?:export[ \t]+)?(?P<name>[A-Z][A-Z0-9_]*)[ \t]*=[ \t]*"
    r"""(?P<v>[^\s"'#(\[{][^\s#()\[\]]*)[ \t]*\r?$""")
_NOT_SECRET = frozenset({"true", "false", "yes", "no", "on", "off", "null", "none", "nil", "~",
                         "undefined"})
# `a.b`, `f(x)`, `env["K"]`: groups hold no brackets of their kind, so matching stays linear
_EXPRESSION = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*|\([^()]*\)|\[[^\[\]]*\])+;?")
CODE_LANGUAGES = frozenset({
    "python", "javascript", "javascriptreact", "typescript", "typescriptreact", "go", "rust", "c",
    "cpp", "java", "ruby", "lua", "csharp", "php", "kotlin", "swift", "scala", "dart", "elixir"})

_SHORT_PARTS = frozenset({"pass", "pw", "pwd", "token", "pin"})
_LONG_WORDS = ("password", "passwd", "passphrase", "secret", "credential", "apikey", "accesskey",
               "privatekey", "authtoken", "accesstoken", "refreshtoken", "authorization")
_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")

DEFAULT_LOCAL_ONLY = (".env*", "*.pem", "secrets/**")


@functools.lru_cache(maxsize=1024)
def secret_name(name: str) -> bool:
    """Whether a setting called `name` holds a secret (see the module doc)."""
    joined = re.sub(r"[^a-z0-9]", "", name.lower())
    if any(word in joined for word in _LONG_WORDS):
        return True
    parts = {p.lower() for p in _PARTS.findall(name)}
    return bool(parts & _SHORT_PARTS) or any(p.endswith("token") for p in parts)


@functools.lru_cache(maxsize=64)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p) for p in patterns)


class Redactor:
    """Finds secrets, replaces every occurrence of each with a numbered placeholder, and puts
    them back in a model's answer.

    One per request, so the same secret gets the same placeholder in every message and the
    answer can be restored. `language` is the document's LSP language id: in code, a bare
    value after a secret name is an expression, not a secret."""

    def __init__(self, extra_patterns: Sequence[str] = (), *, dotenv: bool = False,
                 language: str | None = None):
        sources = [p for _, p in BUILTIN_PATTERNS] + list(extra_patterns)
        if dotenv:
            sources.append(_DOTENV_VALUE)
        self.patterns = _compiled(tuple(sources))
        self.bare = _NAMED_UPPER if language in CODE_LANGUAGES else _NAMED_BARE
        self.secrets: dict[str, str] = {}  # secret → placeholder
        self.found = 0
        self._by_value: re.Pattern[str] | None = None

    def __call__(self, text: str) -> str:
        return self.redact(text)

    def redact(self, text: str) -> str:
        if not text:
            return text
        self.collect(text)
        return self.replace(text)

    def collect(self, text: str) -> None:
        """Remember every secret in `text` (the rules find values; nothing is replaced yet)."""
        for pattern in self.patterns:
            for m in pattern.finditer(text):
                self._add(m.group(1) if m.re.groups and m.group(1) is not None else m.group(0))
        for m in _NAMED_LITERAL.finditer(text):
            if secret_name(m.group("name")):
                self._add(m.group("d") or m.group("s") or m.group("b"))
        for m in self.bare.finditer(text):
            value = m.group("v")
            if (secret_name(m.group("name")) and value.lower() not in _NOT_SECRET
                    and not _EXPRESSION.fullmatch(value)):
                self._add(value)

    def _add(self, secret: str | None) -> None:
        if not secret or "REDACTED_SECRET_" in secret:
            return  # a placeholder (from a redacted earlier turn) hides nothing
        self.found += 1
        if secret not in self.secrets:
            self.secrets[secret] = PLACEHOLDER.format(n=len(self.secrets) + 1)
            self._by_value = None

    def replace(self, text: str) -> str:
        """`text` with every occurrence of every known secret replaced, longest first, in one
        pass: a placeholder already there is kept whole, never matched by a short secret."""
        if not self.secrets or not text:
            return text
        if self._by_value is None:
            ordered = sorted(self.secrets, key=len, reverse=True)
            self._by_value = re.compile("(" + _PLACEHOLDER_RE.pattern + ")|"
                                        + "|".join(re.escape(s) for s in ordered))
        return self._by_value.sub(lambda m: m.group(0) if m.group(1) else self.secrets[m.group(0)], text)

    def restore(self, text: str) -> str:
        """The answer with every placeholder this redactor handed out replaced by its secret."""
        if not self.secrets or "REDACTED_SECRET_" not in text:
            return text
        back = {p: s for s, p in self.secrets.items()}
        return _PLACEHOLDER_RE.sub(lambda m: back.get(m.group(0), m.group(0)), text)

    def messages(self, messages: Iterable[dict]) -> list[dict]:
        """Chat messages with their text content redacted: a secret found in any message is
        replaced in all of them."""
        messages = list(messages)
        for message in messages:
            if isinstance(message.get("content"), str):
                self.collect(message["content"])
        return [{**m, "content": self.replace(m["content"])} if isinstance(m.get("content"), str) else m
                for m in messages]


def is_dotenv(path: str) -> bool:
    return _name(path).startswith(".env")


# --- local_only ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=256)
def _glob_re(pattern: str) -> re.Pattern[str]:
    """A glob as a regex over a POSIX path: `**` spans folders, `*` and `?` stay in one."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _parts(path: str) -> tuple[str, ...]:
    if "\\" in path and "/" not in path:
        return PureWindowsPath(path).parts
    return PurePosixPath(path).parts


def _name(path: str) -> str:
    parts = _parts(path)
    return parts[-1] if parts else ""


def local_only_match(path: str, globs: Sequence[str], root: str | None = None) -> str | None:
    """The first `local_only` glob that `path` matches, or None.

    A glob without `/` matches the file name (`*.pem`); one with `/` matches the path relative to
    the workspace root, or any tail of it (`secrets/**` covers `app/secrets/prod.txt`)."""
    if not globs or not path:
        return None
    parts = [p for p in _parts(path) if p not in ("/", "\\")]
    if root:
        root_parts = [p for p in _parts(root) if p not in ("/", "\\")]
        if parts[: len(root_parts)] == root_parts:
            parts = parts[len(root_parts):]
    name = parts[-1] if parts else ""
    tails = ["/".join(parts[i:]) for i in range(len(parts))]
    for glob in globs:
        pattern = _glob_re(glob.strip("/"))
        if "/" not in glob.strip("/"):
            if pattern.match(name):
                return glob
        elif any(pattern.match(t) for t in tails):
            return glob
    return None


def url_without_password(url: str) -> str:
    """`https://user:***@host/` for showing a configured URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))
