"""The server's log: one file under the data dir, and no secret in it or in any message.

API keys are replaced wherever the server writes text a person may read or share: the log
file, `window/showMessage`, `window/logMessage`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping

from routerls.paths import data_dir

_KEY_LIKE = re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{6,}|\bAIza[0-9A-Za-z_\-]{20,}")


class Scrubber:
    """Replaces API keys with `***`: the values of every `api_key_env` the config names, and
    anything shaped like a provider key (`sk-…`), wherever they would be written."""

    def __init__(self) -> None:
        self.secrets: tuple[str, ...] = ()

    def watch(self, env_names: Iterable[str], environ: Mapping[str, str] = os.environ) -> None:
        values = {environ.get(name, "") for name in env_names}
        # longest first, so a key that contains another is replaced whole
        self.secrets = tuple(sorted((v for v in values if len(v) >= 4), key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return _KEY_LIKE.sub("***", text)


class ScrubFilter(logging.Filter):
    """A logging filter that renders each record once, scrubbed, before any handler writes it."""

    def __init__(self, scrub: Scrubber):
        super().__init__()
        self.scrub = scrub

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not hide the record
            message = str(record.msg)
        record.msg, record.args = self.scrub(message), None
        if record.exc_info:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def setup_logging(scrub: Scrubber) -> None:
    """A log file under the data dir; pygls itself only above INFO (it logs every message body)."""
    logging.getLogger("pygls").setLevel(logging.WARNING)
    logging.getLogger("routerls").setLevel(logging.INFO)
    try:
        folder = data_dir()
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(folder / "routerls.log", encoding="utf-8")
    except OSError:
        handler = logging.StreamHandler()  # stderr: never stdout, which carries LSP
    handler.addFilter(ScrubFilter(scrub))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
