"""Does the result parse? Python through `ast`; JavaScript, TypeScript, Go and Rust through
tree-sitter grammars from PyPI (`routerls[grammars]`), when installed."""

from __future__ import annotations

import ast

from routerls.context import Diagnostic

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


def python_error(text: str) -> SyntaxError | None:
    """Why `text` is not Python, or None: the one parse check (edits, tools and `rules` use it)."""
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return exc
    except ValueError as exc:  # null bytes
        return SyntaxError(str(exc))
    return None


def same_program(before: str, after: str) -> bool:
    """Both parse to the same syntax tree (layout and comments aside)."""
    try:
        return ast.dump(ast.parse(before)) == ast.dump(ast.parse(after))
    except (SyntaxError, ValueError):
        return False


def tree_sitter_errors(language: str, text: str) -> bool | None:
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


def is_syntax_diagnostic(d: Diagnostic) -> bool:
    code = (d.code or "").upper()
    return code in ("E999", "SYNTAX-ERROR", "INVALID-SYNTAX") or d.message.lower().startswith(
        ("syntaxerror", "syntax error", "indentationerror", "unexpected indent", "expected"))
