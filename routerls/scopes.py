"""Where a line sits: the functions and classes that enclose it, outermost first.

From Python's ast when the file parses; otherwise, and for other languages, from indentation and
the look of a header line, because a file that does not parse is exactly when users ask for `fix`.
Pure.
"""

from __future__ import annotations

import ast
import re

import attrs


@attrs.frozen
class Scope:
    first: int  # 0-based lines, inclusive, decorators included
    last: int


def scopes(text: str, lines: list[str], first: int, last: int, language_id: str) -> list[Scope]:
    """Scopes containing lines first..last, outermost first."""
    if language_id == "python":
        found = _python_scopes(text, lines, first, last)
        if found is not None:
            return found
    return _indent_scopes(lines, first, last, python=language_id == "python")


_SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _python_scopes(text: str, lines: list[str], first: int, last: int) -> list[Scope] | None:
    """Scopes from the ast of just the top-level statement(s) around the range: parsing a whole
    300-line file costs ~3 ms, its one function a tenth of that. When that cut does not parse,
    the error is usually right here (the indentation fallback takes over); only when the cut may
    have landed inside a triple-quoted string does the whole file get parsed instead."""
    top, bottom = _top_level_span(lines, first, last)
    try:
        return _scope_chain(ast.parse("\n".join(lines[top:bottom])), first - top, last - top, top)
    except (SyntaxError, ValueError):
        pass
    before = "\n".join(lines[:top])
    if before.count('"""') % 2 == 0 and before.count("'''") % 2 == 0:
        return None
    try:
        return _scope_chain(ast.parse(text), first, last, 0)
    except (SyntaxError, ValueError):
        return None


_CONTINUES = re.compile(r"^(?:[)\]}]|else\b|elif\b|except\b|finally\b|#|@)")


def _top_level_span(lines: list[str], first: int, last: int) -> tuple[int, int]:
    """Lines [top, bottom) of the column-0 statements that hold lines first..last."""

    def starts_statement(i: int) -> bool:
        line = lines[i]
        return bool(line) and line[0] not in " \t" and not _CONTINUES.match(line)

    top = first
    while top > 0 and not starts_statement(top):
        top -= 1
    while top > 0 and lines[top - 1].startswith(("@", "#")):
        top -= 1
    bottom = last + 1
    while bottom < len(lines) and not starts_statement(bottom):
        bottom += 1
    return top, bottom


def _scope_chain(tree: ast.Module, first: int, last: int, shift: int) -> list[Scope]:
    chain: list[Scope] = []
    nodes: list = tree.body
    while nodes:
        for node in nodes:
            lo, hi = node.lineno - 1, node.end_lineno - 1
            if isinstance(node, _SCOPE_NODES) and node.decorator_list:
                lo = min(lo, *(d.lineno - 1 for d in node.decorator_list))
            if lo <= first and last <= hi:
                if isinstance(node, _SCOPE_NODES):
                    chain.append(Scope(lo + shift, hi + shift))
                nodes = _child_statements(node)
                break
        else:
            break
    return chain


def _child_statements(node: ast.AST) -> list:
    kids: list = []
    for field in ("body", "orelse", "finalbody", "handlers"):
        value = getattr(node, field, None)
        if isinstance(value, list):
            kids += value
    for case in getattr(node, "cases", ()):  # match: cases carry no line numbers of their own
        kids += case.body
    return kids


_PY_SCOPE = re.compile(r"^\s*(?:async\s+def|def|class)\b")
_SCOPE_HINT = re.compile(
    r"\b(?:function|func|fn|def|class|interface|struct|impl|trait|module|namespace|sub|proc"
    r"|object|enum|record|method)\b|=>"
)
_SIGNATURE = re.compile(r"\)\s*(?:const\s*)?(?:->\s*[^{]*|:\s*[\w<>\[\], .|]+)?\{?\s*$")
_CONTROL = re.compile(
    r"^\s*(?:}\s*)?(?:if|else|for|while|switch|catch|try|do|with|elif|except|finally)\b"
)
_CLOSER = re.compile(r"^\s*(?:[}\])]|end\b|fi\b|done\b|esac\b)")


def _indent_scopes(lines: list[str], first: int, last: int, *, python: bool) -> list[Scope]:
    """Scopes by indentation: each less-indented line above that opens a block around the range.

    A block runs until indentation returns to its opener's level, plus a closing `}`/`end` line at
    that level. Python keeps only `def`/`class` blocks; other languages prefer lines that look like
    a function or class and fall back to any block when none does.
    """
    n = len(lines)

    def width(i: int) -> int | None:
        s = lines[i].expandtabs(8)
        stripped = s.lstrip()
        return len(s) - len(stripped) if stripped else None

    def block_end(i: int) -> int:
        k, end, j = width(i), i, i + 1
        while j < n:
            w = width(j)
            if w is not None:
                if w <= k:
                    if w == k and _CLOSER.match(lines[j]):
                        end = j
                    break
                end = j
            j += 1
        return end

    content = [w for i in range(first, last + 1) if (w := width(i)) is not None]
    if content:
        target = min(content)
        start = first
    else:  # blank lines: they belong to whatever comes next
        below = next((i for i in range(last + 1, n) if width(i) is not None), None)
        if below is None:
            return []
        target, start = width(below), first
    openers: list[Scope] = []
    head = next((i for i in range(first, last + 1) if width(i) == target), None)
    if head is not None and block_end(head) >= last and block_end(head) > head:
        openers.append(Scope(head, block_end(head)))  # the range starts on a block's own header
        start = head
    level = target
    for i in range(start - 1, -1, -1):
        w = width(i)
        if w is None or w >= level:
            continue
        end = block_end(i)
        if end >= last:
            openers.append(Scope(i, end))
        level = w
        if w == 0:
            break
    openers.reverse()
    if python:
        chosen = [sc for sc in openers if _PY_SCOPE.match(lines[sc.first])]
        return [_with_decorators(lines, sc) for sc in chosen]
    hinted = [sc for sc in openers if _is_scope_header(lines[sc.first])]
    return hinted or openers


def _is_scope_header(line: str) -> bool:
    if _CONTROL.match(line):
        return False
    return bool(_SCOPE_HINT.search(line) or _SIGNATURE.search(line))


def _with_decorators(lines: list[str], sc: Scope) -> Scope:
    first = sc.first
    while first > 0 and lines[first - 1].strip().startswith("@"):
        first -= 1
    return Scope(first, sc.last)
