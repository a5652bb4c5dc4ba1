"""Cheap checks on a model's code result before anyone sees it.

A cheap model's answer is only worth its price if it is right, so every code result is
verified: it parses (Python's `ast`; JavaScript, TypeScript, Go and Rust through tree-sitter
grammars when `routerls[grammars]` is installed), it keeps the code it was not asked to touch, a `format` keeps the
program's meaning, and a `fix` makes the motivating problems go away where we can re-check
them here (syntax errors; ruff findings when ruff is installed). A failed check is a reason
string, and the engine escalates to a stronger tier instead of applying the edit.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence

from routerls.context import Diagnostic

_DEF_RE = re.compile(r"^\s*(?:async\s+def|def|class)\s+([A-Za-z_]\w*)", re.MULTILINE)


def _parses(text: str) -> SyntaxError | None:
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return exc
    except ValueError as exc:  # null bytes
        return SyntaxError(str(exc))
    return None


def _strip_docstrings(tree: ast.AST) -> str:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def is_syntax_diagnostic(d: Diagnostic) -> bool:
    code = (d.code or "").upper()
    return code in ("E999", "SYNTAX-ERROR", "INVALID-SYNTAX") or d.message.lower().startswith(
        ("syntaxerror", "syntax error", "indentationerror", "unexpected indent", "expected"))


# language id → (module, function) of a tree-sitter grammar from PyPI (extra `routerls[grammars]`)
GRAMMARS = {
    "javascript": ("tree_sitter_javascript", "language"),
    "javascriptreact": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "typescriptreact": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
}
_PARSERS: dict[str, object] = {}


def _tree_sitter_errors(language: str, text: str) -> bool | None:
    """Whether tree-sitter finds a syntax error; None when no grammar is installed for it."""
    spec = GRAMMARS.get(language)
    if spec is None:
        return None
    parser = _PARSERS.get(language)
    if parser is None:
        try:
            import importlib

            import tree_sitter

            grammar = getattr(importlib.import_module(spec[0]), spec[1])()
            parser = _PARSERS[language] = tree_sitter.Parser(tree_sitter.Language(grammar))
        except (ImportError, AttributeError, ValueError, TypeError):
            return None
    return bool(parser.parse(text.encode()).root_node.has_error)  # type: ignore[attr-defined]


def verify(action: str, language: str, before_doc: str, after_doc: str, before_sel: str,
           after_sel: str, diagnostics: Sequence[Diagnostic] = ()) -> str | None:
    """Why the result must not be applied, or None when it passes.

    `before_doc`/`after_doc` are the whole document without and with the edits;
    `before_sel`/`after_sel` the selected text before and the text that replaces it.
    """
    if language != "python":
        broken_after = _tree_sitter_errors(language, after_doc)
        if broken_after and (action == "fix" or not _tree_sitter_errors(language, before_doc)):
            return f"the result does not parse as {language} (tree-sitter)"
        return _keeps_lines(before_sel, after_sel)
    broken_before = _parses(before_doc)
    broken_after = _parses(after_doc)
    if broken_after is not None and (broken_before is None or action == "fix"):
        return f"the result does not parse ({broken_after.msg}, line {broken_after.lineno})"
    missing = sorted(set(_DEF_RE.findall(before_sel)) - set(_DEF_RE.findall(after_sel)))
    if missing and action != "refactor":
        return f"it removed code it was not asked to touch ({', '.join(missing)})"
    if broken_before is None and broken_after is None:
        before_tree, after_tree = ast.parse(before_doc), ast.parse(after_doc)
        if action == "format" and ast.dump(before_tree) != ast.dump(after_tree):
            return "the reformatted code does not mean the same (its syntax tree changed)"
        if action == "docstring" and _strip_docstrings(before_tree) != _strip_docstrings(after_tree):
            return "it changed code, not only documentation"
    return _keeps_lines(before_sel, after_sel)


def _keeps_lines(before: str, after: str) -> str | None:
    """A result that throws away most of a sizeable selection is a truncated answer."""
    lines_before = [ln for ln in before.splitlines() if ln.strip()]
    lines_after = [ln for ln in after.splitlines() if ln.strip()]
    if len(lines_before) >= 8 and len(lines_after) < 0.3 * len(lines_before):
        return (f"it kept only {len(lines_after)} of {len(lines_before)} lines; "
                "the answer looks truncated")
    return None


async def recheck_fix(before_doc: str, after_doc: str, path: str,
                      diagnostics: Sequence[Diagnostic]) -> str | None:
    """Ask ruff again about the findings `fix` was meant to remove (when ruff is installed):
    each code must be reported at least as many times fewer as it was in the range."""
    from collections import Counter

    from routerls import tools

    wanted = Counter(d.code for d in diagnostics if d.source and d.source.lower() == "ruff" and d.code)
    ruff = tools.which("ruff")
    if not wanted or ruff is None:
        return None
    argv = [ruff, "check", "--output-format", "json", "--exit-zero", "--quiet",
            "--select", ",".join(sorted(wanted)), "--stdin-filename", path, "-"]
    try:
        counts = []
        for doc in (before_doc, after_doc):
            found = json.loads(await tools.run_program(argv, doc, 10.0) or "[]")
            counts.append(Counter(f.get("code") for f in found))
    except (tools.ToolFailure, ValueError):
        return None
    left = sorted(code for code, n in wanted.items() if counts[1][code] > counts[0][code] - n)
    return f"ruff still reports {', '.join(left)}" if left else None
