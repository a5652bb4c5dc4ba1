"""What the model sees: the selection, its enclosing scope, diagnostics, and the code around it.

Cheap models do well when they see exactly the code in question plus just enough around it, and
every token sent is paid for, so this module decides what goes in and `trim` cuts it to a model's
window, dropping the farthest code first. Pure: no I/O, and no tokenizer (see `estimate_tokens`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import attrs

from routerls.scopes import Scope, scopes
from routerls.text import UTF16, Range, slice_range, split_lines, units


@attrs.frozen
class Diagnostic:
    range: Range
    message: str
    severity: int | None = None  # LSP DiagnosticSeverity: 1 error, 2 warning, 3 info, 4 hint
    code: str | None = None
    source: str | None = None


@attrs.frozen
class Context:
    """One request's context.

    `range` is the span the model is shown and its answer replaces: the request's range, or for an
    empty range its innermost enclosing function/class (the current line outside any), since a
    cursor inside a function asks about that function. `enclosing` is then the scope around
    `range` (never `range` itself). `document` is the surrounding code; `trim` may shorten it,
    marking the cut lines. `tokens` estimates `render(self)`.
    """

    path: str
    language_id: str
    range: Range
    selection: str
    enclosing: str | None
    enclosing_range: Range | None
    diagnostics: tuple[Diagnostic, ...]
    document: str
    tokens: int


def gather(
    text: str,
    rng: Range,
    *,
    path: str,
    language_id: str,
    diagnostics: Sequence[Diagnostic] = (),
    encoding: str = UTF16,
) -> Context:
    """The context for an action on `rng` of `text`.

    Scopes come from Python's ast when the file parses; otherwise, and for other languages,
    from indentation, because a file that does not parse is exactly when users ask for `fix`.
    """
    lines = split_lines(text)
    first, last = _line_span(rng, len(lines))
    chain = scopes(text, lines, first, last, language_id)
    if rng.is_empty:
        focus = chain.pop() if chain else None
        eff = (
            _scope_range(lines, focus, encoding)
            if focus
            else Range.of(first, 0, first, units(lines[first], encoding))
        )
    else:
        eff = rng
        chain = [sc for sc in chain if not (first <= sc.first and sc.last <= last)]
    outer = chain[-1] if chain else None
    enclosing_range = _scope_range(lines, outer, encoding) if outer else None
    ctx = Context(
        path=path,
        language_id=language_id,
        range=eff,
        selection=slice_range(text, eff, encoding),
        enclosing=slice_range(text, enclosing_range, encoding) if enclosing_range else None,
        enclosing_range=enclosing_range,
        diagnostics=tuple(d for d in diagnostics if d.range.overlaps(eff)),
        document=text,
        tokens=0,
    )
    return attrs.evolve(ctx, tokens=estimate_tokens(render(ctx)))


def focus_range(text: str, rng: Range, *, language_id: str, encoding: str = UTF16) -> Range:
    """The span `gather` shows the model for `rng` (see `Context.range`), without the rest."""
    if not rng.is_empty:
        return rng
    lines = split_lines(text)
    first, last = _line_span(rng, len(lines))
    chain = scopes(text, lines, first, last, language_id)
    if chain:
        return _scope_range(lines, chain[-1], encoding)
    return Range.of(first, 0, first, units(lines[first], encoding))


def _line_span(rng: Range, n_lines: int) -> tuple[int, int]:
    """First and last line a range touches; an end at column 0 of a later line does not count."""
    first = min(max(rng.start.line, 0), n_lines - 1)
    last = (
        rng.end.line - 1
        if rng.end.character == 0 and rng.end.line > rng.start.line
        else rng.end.line
    )
    return first, min(max(last, first), n_lines - 1)


def _scope_range(lines: list[str], scope: Scope, encoding: str) -> Range:
    """Whole lines, from column 0 of the first to the end of the last (its newline excluded)."""
    return Range.of(scope.first, 0, scope.last, units(lines[scope.last], encoding))


# --- size ---------------------------------------------------------------------------------------

_SYMBOLS = "()[]{}.,:;=+-*/<>!&|%^~@\"'#"


def estimate_tokens(text: str) -> int:
    """Roughly how many tokens `text` is, without a tokenizer (litellm's costs ~100 ms to load).

    About 3.6 characters a token, a run of four spaces counting as one character since
    tokenizers swallow indentation whole; floored at 0.75 a word or symbol, because dense code
    (minified JS, operators, short names) tokenizes nearer one token per piece. Against
    tiktoken's cl100k on Python, JS, JSON and markdown: median 1.07x, 80% within 0.84-1.32x --
    enough for routing and trimming, which only need the size class.
    """
    if not text:
        return 0
    chars = len(text) - 3 * text.count("    ")
    pieces = len(text.split()) + sum(text.count(ch) for ch in _SYMBOLS)
    return max(math.ceil(chars / 3.6), math.ceil(pieces * 0.75))


def trim(ctx: Context, max_tokens: int) -> Context:
    """`ctx` cut to about `max_tokens` of rendered context.

    The selection and diagnostics always stay (even over the limit: without them there is no
    request). Then the enclosing scope, cut to the lines nearest the selection if it does not fit;
    then surrounding document lines, nearest the range first. Cut runs become one marker line,
    `... (N lines omitted) ...`.
    """
    if ctx.tokens <= max_tokens:
        return ctx
    bare = attrs.evolve(ctx, enclosing=None, enclosing_range=None, document=ctx.selection)
    budget = max_tokens - estimate_tokens(render(bare))
    enclosing, enclosing_range = None, None
    if ctx.enclosing is not None and ctx.enclosing_range is not None:
        title = f"Enclosing scope ({_lines_label(ctx.enclosing_range)}):"
        header = estimate_tokens(_section(title, "", ctx.language_id))
        enc_lines = split_lines(ctx.enclosing.replace("\r\n", "\n"))
        lo = ctx.range.start.line - ctx.enclosing_range.start.line
        hi = _line_span(ctx.range, 1 << 30)[1] - ctx.enclosing_range.start.line
        text, left, useful = _around(enc_lines, lo, hi, None, budget - header)
        if useful:  # a scope cut down to the selection alone says nothing: leave it out
            enclosing, enclosing_range, budget = text, ctx.enclosing_range, left
    doc_lines = split_lines(ctx.document)
    if enclosing_range is not None:
        fa, fb, middle = enclosing_range.start.line, enclosing_range.end.line, enclosing
    else:
        fa, fb = ctx.range.start.line, _line_span(ctx.range, len(doc_lines))[1]
        middle = None
    document, _, useful = _around(doc_lines, fa, fb, middle, budget)
    if not useful:  # nothing around fits: render then shows no surrounding section at all
        document = middle if middle is not None else ctx.selection
    out = attrs.evolve(ctx, enclosing=enclosing, enclosing_range=enclosing_range, document=document)
    return attrs.evolve(out, tokens=estimate_tokens(render(out)))


def _line_cost(line: str) -> int:
    return estimate_tokens(line) + 1


def _omitted(n: int) -> str:
    return f"... ({n} line{'s' if n != 1 else ''} omitted) ..."


def _around(
    lines: list[str], fa: int, fb: int, middle: str | None, budget: int
) -> tuple[str, int, bool]:
    """Lines fa..fb (or `middle` in their place, already paid for), then their nearest
    neighbours, alternating above and below, while `budget` lasts; cut runs become markers.
    Returns the text, the budget left, and whether any neighbour made it in."""
    last = len(lines) - 1
    fa, fb = max(0, min(fa, last)), max(0, min(fb, last))
    if middle is None:
        middle = "\n".join(lines[fa : fb + 1])
        budget -= sum(_line_cost(x) for x in lines[fa : fb + 1])
    a, b, grew = fa, fb, True
    while grew:
        grew = False
        if a > 0 and _line_cost(lines[a - 1]) <= budget:
            a -= 1
            budget -= _line_cost(lines[a])
            grew = True
        if b < last and _line_cost(lines[b + 1]) <= budget:
            b += 1
            budget -= _line_cost(lines[b])
            grew = True
    parts = [_omitted(a)] if a > 0 else []
    parts += lines[a:fa] + [middle] + lines[fb + 1 : b + 1]
    if b < last:
        parts.append(_omitted(last - b))
    return "\n".join(parts), budget, a < fa or b > fb


# --- the prompt block ---------------------------------------------------------------------------

_SEVERITY = {1: "error", 2: "warning", 3: "info", 4: "hint"}


def render(ctx: Context) -> str:
    """The context block of the prompt: where, what is wrong, the scope around, the selection.

    The surrounding code is shown with the enclosing scope (or the selection) cut out and
    replaced by a pointer to its own section, so no code is sent twice except the selection
    inside its scope.
    """
    out = [f"File: {ctx.path}", f"Language: {ctx.language_id}"]
    if ctx.diagnostics:
        out.append("Diagnostics:")
        out += [f"- {diagnostic_line(d)}" for d in ctx.diagnostics]
    around = _surrounding(ctx)
    if around is not None:
        out += ["", _section("Surrounding code:", around, ctx.language_id)]
    if ctx.enclosing is not None and ctx.enclosing_range is not None:
        title = f"Enclosing scope ({_lines_label(ctx.enclosing_range)}):"
        out += ["", _section(title, ctx.enclosing, ctx.language_id)]
    out += ["", _section(f"Selection ({_lines_label(ctx.range)}):", ctx.selection, ctx.language_id)]
    return "\n".join(out) + "\n"


def diagnostic_line(d: Diagnostic) -> str:
    """`line 3: E999 SyntaxError: invalid syntax (error, flake8)`, 1-based as editors show it."""
    head = f"line {d.range.start.line + 1}: " + (f"{d.code} " if d.code else "") + d.message
    tail = [x for x in (_SEVERITY.get(d.severity or 0), d.source) if x]
    return head + (f" ({', '.join(tail)})" if tail else "")


def _lines_label(rng: Range) -> str:
    a = rng.start.line + 1
    b = _line_span(rng, 1 << 30)[1] + 1
    return f"line {a}" if a == b else f"lines {a}-{b}"


def _section(title: str, body: str, language_id: str) -> str:
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    longest = max((len(m) for m in re.findall(r"`{3,}", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{title}\n{fence}{language_id}\n{body}\n{fence}"


def _surrounding(ctx: Context) -> str | None:
    """The document with the focus (enclosing scope, else selection) replaced by a pointer."""
    doc = ctx.document.replace("\r\n", "\n").replace("\r", "\n")
    has_scope = ctx.enclosing is not None and ctx.enclosing_range is not None
    focus = (
        (ctx.enclosing if has_scope else ctx.selection).replace("\r\n", "\n").replace("\r", "\n")
    )
    line = (ctx.enclosing_range if has_scope else ctx.range).start.line
    where = _nearest_occurrence(doc, focus, line) if focus.strip() else -1
    if where < 0:
        rest = doc
    else:
        pointer = (
            "... (enclosing scope, shown below) ..."
            if has_scope
            else "... (selection, shown below) ..."
        )
        rest = doc[:where] + pointer + doc[where + len(focus) :]
        if rest.strip() == pointer:
            return None
    return rest if rest.strip() else None


def _nearest_occurrence(doc: str, needle: str, line: int) -> int:
    """Offset of the occurrence of `needle` whose line is nearest `line` (a trimmed document's
    lines have moved up, so the first occurrence is not always the one meant)."""
    best, best_dist, i, at, seen = -1, None, doc.find(needle), 0, 0
    while i >= 0:
        seen += doc.count("\n", at, i)
        at = i
        dist = abs(seen - line)
        if best_dist is None or dist < best_dist:
            best, best_dist = i, dist
        i = doc.find(needle, i + 1)
    return best
