"""Hover: with `hover.explain` on, the `explain` task on the word under the cursor.

The explanation is cached by a hash of the word, its line and the language, so a repeated hover
costs nothing. The word's range is counted in the negotiated position encoding through
text.py, for the selection the model explains and for the range the editor highlights.
"""

from __future__ import annotations

import hashlib
import re

from lsprotocol import types as T

from routerls.server.ranges import range_json, to_lsp
from routerls.server.run import run
from routerls.server.session import RouterServer
from routerls.text import Range, column_to_index, units

# what counts as the word at a position: pygls' own default word pattern
_WORD_BEFORE = re.compile(r"[A-Za-z_0-9]*$")
_WORD_AFTER = re.compile(r"^[A-Za-z_0-9]*")


def word_at(line: str, number: int, character: int, encoding: str) -> tuple[str, Range] | None:
    """The word around column `character` of `line` (line `number`, without its line break) and
    its range in `encoding`'s code units; None off a word."""
    at = column_to_index(line, character, encoding)
    start = at - len(_WORD_BEFORE.search(line[:at]).group())
    end = at + len(_WORD_AFTER.match(line[at:]).group())
    if start == end:
        return None
    word = line[start:end]
    column = units(line[:start], encoding)
    return word, Range.of(number, column, number, column + units(word, encoding))


async def hover(ls: RouterServer, params: T.HoverParams) -> T.Hover | None:
    """With `hover.explain` on: the `explain` task on the symbol under the cursor, cached by a
    hash of the symbol, its line and the language, so a repeated hover costs nothing."""
    if not ls.config.hover.explain:
        return None
    doc = ls.workspace.text_documents.get(params.text_document.uri)
    if doc is None:
        return None
    number = params.position.line
    line = doc.lines[number].rstrip("\r\n") if number < len(doc.lines) else ""
    found = word_at(line, number, params.position.character, ls.encoding)
    if found is None:
        return None
    word, rng = found
    key = hashlib.sha256("\0".join((doc.language_id or "", word, line)).encode()).hexdigest()
    markdown = ls.hover_cache.get(key)
    if markdown is None:
        outcome = await run(ls, {"action": "explain", "uri": doc.uri, "range": range_json(rng),
                                 "version": doc.version}, apply=False)
        markdown = outcome.markdown
        if markdown is None:
            return None
        ls.hover_cache[key] = markdown
    return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=markdown), range=to_lsp(rng))
