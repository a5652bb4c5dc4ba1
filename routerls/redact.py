"""Secrets stay on this machine: redact them from prompts, and keep secret files local.

Before a prompt goes to a tier other than `local`, every secret found in it (private keys, AWS /
GCP / OpenAI / Anthropic key shapes, values of secret-named variables and of `.env` files,
passwords in URLs) is replaced by a placeholder such as `REDACTED_SECRET_1`. A model that
rewrites the code copies the placeholder back, and `Redactor.restore` puts the real value in its
place, so an edit never replaces a user's secret with a placeholder. Files matching a
`local_only` glob (`.env*`, `*.pem`, `secrets/**` by default) never leave the machine at all:
the engine routes them to the local tier (or a tool).

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
    ("password in a URL", r"\b[a-z][a-z0-9+.\-]*://[^\s:/@\"']+:([^\s@/\"']+)@"),
    ("secret-named value",
     (r"(?im)\b[A-Za-z0-9_]*(?:passw(?:or)?d|passwd|pwd|secret|token|api_?key|access_?key|private_?key)"
     r"[A-Za-z0-9_]*[\"']?\s*[:=]\s*[\"']([^\"'\s]{6,})[\"']")),
    ("secret-named value",
     (r"(?m)^\s*(?:export\s+)?[A-Z0-9_]*(?:PASSWORD|PASSWD|PWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY)"
     r"[A-Z0-9_]*\s*=\s*([^\s\"'#(][^\s#()\[\]]{5,})\s*$")),
)
# In a `.env` file every value is a secret.
_DOTENV_VALUE = r"(?m)^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=\s*[\"']?([^\s\"'#][^\"'\r\n#]*?)[\"']?\s*$"

DEFAULT_LOCAL_ONLY = (".env*", "*.pem", "secrets/**")


@functools.lru_cache(maxsize=64)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p) for p in patterns)


class Redactor:
    """Replaces secrets with numbered placeholders and puts them back in a model's answer.

    One per request, so the same secret gets the same placeholder in every message and the
    answer can be restored."""

    def __init__(self, extra_patterns: Sequence[str] = (), *, dotenv: bool = False):
        sources = [p for _, p in BUILTIN_PATTERNS] + list(extra_patterns)
        if dotenv:
            sources.append(_DOTENV_VALUE)
        self.patterns = _compiled(tuple(sources))
        self.secrets: dict[str, str] = {}  # secret → placeholder
        self.found = 0

    def __call__(self, text: str) -> str:
        return self.redact(text)

    def redact(self, text: str) -> str:
        if not text:
            return text
        for pattern in self.patterns:
            text = pattern.sub(self._replace, text)
        return text

    def _replace(self, m: re.Match[str]) -> str:
        group = 1 if m.re.groups and m.group(1) is not None else 0
        secret = m.group(group)
        if not secret or _PLACEHOLDER_RE.fullmatch(secret):
            return m.group(0)
        secret = self.restore(secret)  # a value holding an earlier placeholder is kept whole
        placeholder = self.secrets.get(secret)
        if placeholder is None:
            placeholder = self.secrets[secret] = PLACEHOLDER.format(n=len(self.secrets) + 1)
        self.found += 1
        start, end = m.start(group) - m.start(0), m.end(group) - m.start(0)
        whole = m.group(0)
        return whole[:start] + placeholder + whole[end:]

    def restore(self, text: str) -> str:
        """The answer with every placeholder this redactor handed out replaced by its secret."""
        if not self.secrets or "REDACTED_SECRET_" not in text:
            return text
        back = {p: s for s, p in self.secrets.items()}
        return _PLACEHOLDER_RE.sub(lambda m: back.get(m.group(0), m.group(0)), text)

    def messages(self, messages: Iterable[dict]) -> list[dict]:
        """Chat messages with their text content redacted."""
        out = []
        for message in messages:
            content = message.get("content")
            if isinstance(content, str):
                message = {**message, "content": self.redact(content)}
            out.append(message)
        return out


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
