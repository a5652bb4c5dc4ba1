"""Re-indenting a model's code to where the selection sits.

Models return code dedented to column 0, or exactly as selected (first line bare, the rest at
full depth); these helpers put it back at the original's depth. Pure, on lists of lines.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


def fit(prefix: str, orig: list[str], new: list[str]) -> list[str]:
    """`new` indented like `orig`, which starts after `prefix` on its first line.

    Models usually return the code dedented to column 0, sometimes exactly as selected (first
    line bare, the rest at their full depth). Either way the lines are dedented and re-indented to
    the original's depth; the first line then drops the `prefix` the document already has.
    """
    while len(new) > 1 and not new[-1].strip():
        new = new[:-1]
    if prefix.strip():
        # The selection starts after code on its line: the first line is inline.
        first = new[0] if orig[0][:1].isspace() else new[0].lstrip()
        rest = new[1:]
        if not rest:
            return [first]
        orig_rest = [x for x in orig[1:] if x.strip()]
        target = common_indent(orig_rest) if orig_rest else indent_of(prefix)
        return [first] + indent_all(dedent(rest), target)
    logical = [prefix + orig[0]] + orig[1:]
    content = [x for x in logical if x.strip()]
    target = common_indent(content) if content else prefix
    chosen = new
    if prefix and len(new) > 1:
        raw = [prefix + new[0]] + new[1:]
        want = first_vs_rest(logical)
        if want is not None and first_vs_rest(new) != want and first_vs_rest(raw) == want:
            chosen = raw  # the model mirrored the selection: first line bare, rest at full depth
    fitted = indent_all(dedent(chosen), target)
    fitted[0] = fitted[0][len(prefix) :] if fitted[0].startswith(prefix) else fitted[0].lstrip()
    return fitted


def indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def common_indent(lines: Sequence[str]) -> str:
    return os.path.commonprefix([indent_of(x) for x in lines if x.strip()] or [""])


def dedent(lines: Sequence[str]) -> list[str]:
    common = len(common_indent(lines))
    return [x[common:] if x.strip() else "" for x in lines]


def indent_all(lines: Sequence[str], indent: str) -> list[str]:
    return [indent + x if x.strip() else "" for x in lines]


def first_vs_rest(lines: Sequence[str]) -> int | None:
    """How much deeper the rest sits than the first line: the shape a re-indent must keep."""
    content = [x for x in lines if x.strip()]
    if len(content) < 2:
        return None
    return min(len(indent_of(x)) for x in content[1:]) - len(indent_of(content[0]))

