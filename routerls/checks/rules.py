"""Static rules on a code result: it parses, keeps the code it was not asked to touch, a
`format` keeps the program's meaning, a `docstring` changes only documentation and documents
what it was given, and the answer is not truncated. Pure: no programs run here."""

from __future__ import annotations

import ast
import re

from routerls.checks.parse import python_error, same_program, tree_sitter_errors

_DEF_RE = re.compile(r"^\s*(?:async\s+def|def|class)\s+([A-Za-z_]\w*)", re.MULTILINE)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _strip_docstrings(tree: ast.AST) -> str:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def verify(action: str, language: str, before_doc: str, after_doc: str, before_sel: str,
           after_sel: str, first_line: int | None = None) -> str | None:
    """Why the result must not be applied, or None when it passes.

    `before_doc`/`after_doc` are the whole document without and with the edits;
    `before_sel`/`after_sel` the selected text before and the text that replaces it;
    `first_line` the 0-based line where the selection starts (for the docstring rule).
    """
    if language != "python":
        broken_after = tree_sitter_errors(language, after_doc)
        if broken_after and (action == "fix" or not tree_sitter_errors(language, before_doc)):
            return f"the result does not parse as {language} (tree-sitter)"
        return _keeps_lines(before_sel, after_sel)
    broken_before = python_error(before_doc)
    broken_after = python_error(after_doc)
    if broken_after is not None and (broken_before is None or action == "fix"):
        return f"the result does not parse ({broken_after.msg}, line {broken_after.lineno})"
    missing = sorted(set(_DEF_RE.findall(before_sel)) - set(_DEF_RE.findall(after_sel)))
    if missing and action != "refactor":
        return f"it removed code it was not asked to touch ({', '.join(missing)})"
    if broken_before is None and broken_after is None:
        if action == "format" and not same_program(before_doc, after_doc):
            return "the reformatted code does not mean the same (its syntax tree changed)"
        if action == "refactor" and same_program(before_doc, after_doc):
            return "the refactored code is the same program (only layout or comments changed)"
        if action == "docstring":
            if _strip_docstrings(ast.parse(before_doc)) != _strip_docstrings(ast.parse(after_doc)):
                return "it changed code, not only documentation"
            if first_line is not None:
                # `_strip_docstrings` changed the trees in place; read the result again
                bare = undocumented(ast.parse(after_doc), first_line + 1, first_line + len(after_sel.splitlines()))
                if bare:
                    return f"it left {', '.join(bare)} without a docstring"
    return _keeps_lines(before_sel, after_sel)


def defined_names(text: str) -> list[str]:
    """Functions and classes a piece of code defines (by their `def`/`class` lines)."""
    return _DEF_RE.findall(text)


def undocumented(tree: ast.AST, first: int, last: int) -> list[str]:
    """Functions and classes wholly inside lines `first`..`last` (1-based) with no docstring."""
    return [n.name for n in ast.walk(tree) if isinstance(n, _DEFS)
            and n.lineno >= first and (n.end_lineno or n.lineno) <= last
            and not (ast.get_docstring(n) or "").strip()]


def _keeps_lines(before: str, after: str) -> str | None:
    """A result that throws away most of a sizeable selection is a truncated answer."""
    lines_before = [ln for ln in before.splitlines() if ln.strip()]
    lines_after = [ln for ln in after.splitlines() if ln.strip()]
    if len(lines_before) >= 8 and len(lines_after) < 0.3 * len(lines_before):
        return (f"it kept only {len(lines_after)} of {len(lines_before)} lines; "
                "the answer looks truncated")
    return None
