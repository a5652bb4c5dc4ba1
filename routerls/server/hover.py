"""Hover: with `hover.explain` on, the `explain` task on the word under the cursor.

The explanation is cached by a hash of the word, its line and the language, so a repeated hover
costs nothing.
"""

from __future__ import annotations

import hashlib

from lsprotocol import types as T

from routerls.server.ranges import range_json
from routerls.server.run import run
from routerls.server.session import RouterServer


async def hover(ls: RouterServer, params: T.HoverParams) -> T.Hover | None:
    """With `hover.explain` on: the `explain` task on the symbol under the cursor, cached by a
    hash of the symbol, its line and the language, so a repeated hover costs nothing."""
    if not ls.config.hover.explain:
        return None
    doc = ls.workspace.text_documents.get(params.text_document.uri)
    if doc is None:
        return None
    word = doc.word_at_position(params.position)
    if not word.strip():
        return None
    lines = doc.lines
    line = lines[params.position.line] if params.position.line < len(lines) else ""
    key = hashlib.sha256("\0".join((doc.language_id or "", word, line)).encode()).hexdigest()
    markdown = ls.hover_cache.get(key)
    if markdown is None:
        start = line.find(word)
        column = len(line[:max(start, 0)].encode("utf-16-le")) // 2 if ls.encoding == "utf-16" else start
        rng = T.Range(T.Position(params.position.line, max(column, 0)),
                      T.Position(params.position.line, max(column, 0) + len(word)))
        outcome = await run(ls, {"action": "explain", "uri": doc.uri, "range": range_json(rng),
                                 "version": doc.version}, apply=False)
        markdown = outcome.markdown
        if markdown is None:
            return None
        ls.hover_cache[key] = markdown
    return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=markdown))
