"""Work-done progress for one run: a cancellable bar while the model works, when the client
supports it; cancelling the bar cancels the run."""

from __future__ import annotations

import logging
import time

import attrs
from lsprotocol import types as T

from routerls.server.session import RouterServer

log = logging.getLogger("routerls")

REPORT_EVERY_S = 0.1  # a streaming model reports per token; the editor needs far fewer


@attrs.define
class Progress:
    """One run's bar: begun only where the client can show it, reported at most every
    `REPORT_EVERY_S`, ended with what the run came to."""

    ls: RouterServer
    token: str
    shown: bool = False
    last: float = 0.0

    @classmethod
    async def begin(cls, ls: RouterServer, token: str, title: str, message: str) -> Progress:
        progress = cls(ls, token)
        if not ls.capability("window.work_done_progress", False):
            return progress
        try:
            await ls.ask(ls.work_done_progress.create_async(token), "workDoneProgress/create")
        except Exception as exc:  # noqa: BLE001 - no progress bar is no reason to fail the run
            log.warning("no progress bar: %s", exc)
            return progress
        ls.work_done_progress.begin(token, T.WorkDoneProgressBegin(title=title, message=message, cancellable=True))
        progress.shown = True
        return progress

    def report(self, model_name: str, tokens: int) -> None:
        now = time.monotonic()
        if self.shown and now - self.last >= REPORT_EVERY_S:
            self.last = now
            self.ls.work_done_progress.report(self.token, T.WorkDoneProgressReport(
                message=f"{model_name}: {tokens} tokens", cancellable=True))

    def end(self, message: str) -> None:
        if self.shown:
            self.ls.work_done_progress.end(self.token, T.WorkDoneProgressEnd(message=message))
        self.ls.work_done_progress.tokens.pop(self.token, None)


def progress_cancel(ls: RouterServer, params: T.WorkDoneProgressCancelParams) -> None:
    task = ls.by_token.get(str(params.token))
    if task is not None and not task.done():
        log.info("cancelling run with progress %s", params.token)
        task.cancel()
