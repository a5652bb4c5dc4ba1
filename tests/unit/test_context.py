"""What the model is shown: the right scope, the right diagnostics, cut to fit."""

from __future__ import annotations

import math
import statistics
import time

import attrs

from routerls.context import (
    Context,
    Diagnostic,
    diagnostic_line,
    estimate_tokens,
    focus_range,
    gather,
    render,
    trim,
)
from routerls.text import Range

SRC = (
    "import os\n"  # 0
    "\n"  # 1
    "\n"  # 2
    "class Cart:\n"  # 3
    "    @property\n"  # 4
    "    def total(self):\n"  # 5
    "        s = 0\n"  # 6
    "        for it in self.items:\n"  # 7
    "            s += it.price\n"  # 8
    "        return s\n"  # 9
    "\n"  # 10
    "    def empty(self):\n"  # 11
    "        return not self.items\n"  # 12
    "\n"  # 13
    "\n"  # 14
    "X = 1\n"  # 15
)
TOTAL = Range.of(4, 0, 9, 16)
CART = Range.of(3, 0, 12, 29)


def py(text, rng, **kw):
    kw.setdefault("path", "/ws/cart.py")
    kw.setdefault("language_id", "python")
    return gather(text, rng, **kw)


def test_a_selection_inside_a_method_sees_that_method():
    ctx = py(SRC, Range.of(8, 12, 8, 25))
    assert ctx.range == Range.of(8, 12, 8, 25)
    assert ctx.selection == "s += it.price"
    assert ctx.enclosing_range == TOTAL  # decorators included
    assert ctx.enclosing.startswith("    @property\n    def total(self):")
    assert ctx.document == SRC
    assert ctx.tokens == estimate_tokens(render(ctx))


def test_an_empty_range_selects_its_function_and_encloses_it_in_its_class():
    ctx = py(SRC, Range.of(7, 4, 7, 4))
    assert ctx.range == TOTAL
    assert ctx.selection.splitlines()[1] == "    def total(self):"
    assert ctx.enclosing_range == CART
    assert focus_range(SRC, Range.of(7, 4, 7, 4), language_id="python") == TOTAL


def test_an_empty_range_outside_any_scope_selects_its_line():
    ctx = py(SRC, Range.of(15, 2, 15, 2))
    assert (ctx.range, ctx.selection, ctx.enclosing) == (Range.of(15, 0, 15, 5), "X = 1", None)


def test_a_selection_covering_a_whole_function_is_enclosed_by_the_next_scope_out():
    ctx = py(SRC, Range.of(11, 0, 13, 0))
    assert ctx.enclosing_range == CART


def test_a_broken_python_file_falls_back_to_indentation():
    broken = SRC.replace("for it in self.items:", "for it in self.items")
    ctx = py(broken, Range.of(8, 12, 8, 12))
    assert ctx.range == TOTAL
    assert ctx.enclosing_range == CART
    ctx = py(broken, Range.of(12, 8, 12, 10))
    assert ctx.enclosing_range == Range.of(11, 0, 12, 29)


def test_other_languages_use_indentation_and_keep_the_closing_brace():
    js = (
        "export function load(url) {\n"  # 0
        "  if (!url) {\n"  # 1
        "    throw new Error('no url');\n"  # 2
        "  }\n"  # 3
        "  return fetch(url);\n"  # 4
        "}\n"  # 5
        "\n"  # 6
        "const x = 1;\n"  # 7
    )
    ctx = gather(js, Range.of(2, 4, 2, 9), path="/ws/a.js", language_id="javascript")
    assert ctx.enclosing_range == Range.of(0, 0, 5, 1)  # the function, not the if
    ctx = gather(js, Range.of(4, 2, 4, 2), path="/ws/a.js", language_id="javascript")
    assert ctx.range == Range.of(0, 0, 5, 1)
    assert ctx.selection.endswith("}")


def test_only_diagnostics_overlapping_the_range_are_kept():
    near = Diagnostic(Range.of(8, 17, 8, 22), "Unknown attribute", 1, "E1101", "pylint")
    far = Diagnostic(Range.of(15, 0, 15, 1), "Constant name", 3, "C0103", "pylint")
    ctx = py(SRC, Range.of(8, 12, 8, 25), diagnostics=(near, far))
    assert ctx.diagnostics == (near,)


def test_ranges_are_read_in_the_client_encoding():
    text = 'greet = "😀 hi"  # wave\n'
    ctx = gather(text, Range.of(0, 12, 0, 14), path="/ws/a.py", language_id="python")
    assert ctx.selection == "hi"
    ctx = gather(
        text, Range.of(0, 14, 0, 16), path="/ws/a.py", language_id="python", encoding="utf-8"
    )
    assert ctx.selection == "hi"


def test_estimate_tokens():
    assert estimate_tokens("") == 0
    prose = "The quick brown fox jumps over the lazy dog. " * 10
    assert estimate_tokens(prose) == math.ceil(len(prose) / 3.6)
    dense = "a=(b+c)*[d-e];" * 20  # symbols tokenize nearly one per character
    assert estimate_tokens(dense) > len(dense) / 3
    indented = "        x\n" * 50  # indentation is cheap
    assert estimate_tokens(indented) < len(indented) / 4


def test_render_shows_where_what_is_wrong_scope_and_selection():
    diag = Diagnostic(Range.of(8, 17, 8, 22), "SyntaxError: invalid syntax", 1, "E999", "flake8")
    ctx = py(SRC, Range.of(8, 12, 8, 25), diagnostics=(diag,))
    out = render(ctx)
    assert out.startswith("File: /ws/cart.py\nLanguage: python\nDiagnostics:\n")
    assert "- line 9: E999 SyntaxError: invalid syntax (error, flake8)\n" in out
    assert "Enclosing scope (lines 5-10):\n```python\n    @property\n" in out
    assert out.endswith("Selection (line 9):\n```python\ns += it.price\n```\n")
    # the surrounding code is shown once, with the scope replaced by a pointer
    surrounding = out.split("Surrounding code:\n", 1)[1].split("Enclosing scope", 1)[0]
    assert "... (enclosing scope, shown below) ..." in surrounding
    assert "def total" not in surrounding and "def empty" in surrounding


def test_diagnostic_line_without_optional_parts():
    assert diagnostic_line(Diagnostic(Range.of(2, 0, 2, 1), "bad")) == "line 3: bad"


def test_render_fences_survive_backticks_in_code_and_crlf():
    text = 's = """\r\n```\r\n"""\r\n'
    out = render(gather(text, Range.of(0, 0, 3, 0), path="/ws/a.py", language_id="python"))
    assert "\r" not in out
    assert '````python\ns = """\n```\n"""\n\n````' in out


def test_trim_is_a_no_op_when_it_fits():
    ctx = py(SRC, Range.of(8, 12, 8, 25))
    assert trim(ctx, ctx.tokens) is ctx


def _big_module(n_funcs: int = 40) -> str:
    return "".join(
        f"def f{i}(a, b):\n    c = a + b * {i}\n    return c - {i}\n\n\n" for i in range(n_funcs)
    )


def test_trim_keeps_the_nearest_surrounding_lines_and_marks_the_rest():
    text = _big_module()
    line = 20 * 5 + 1  # inside f20
    ctx = gather(text, Range.of(line, 4, line, 20), path="/ws/m.py", language_id="python")
    small = trim(ctx, 200)
    assert small.tokens <= 200 < ctx.tokens
    assert small.selection == ctx.selection and small.enclosing == ctx.enclosing
    doc = small.document
    assert doc.startswith("... (") and doc.endswith(" lines omitted) ...")
    assert "def f19" in doc and "def f21" in doc  # the neighbours stay
    assert "def f0(" not in doc and "def f39" not in doc  # the far ends go
    kept = [x for x in doc.splitlines() if not x.startswith("... (")]
    omitted = sum(
        int(x.split("(")[1].split()[0]) for x in doc.splitlines() if x.startswith("... (")
    )
    assert len(kept) + omitted == len(text.splitlines()) + 1  # every line kept or counted


def test_trim_never_drops_the_selection_or_diagnostics():
    diag = Diagnostic(Range.of(101, 4, 101, 5), "undefined name", 1, "F821", "pyflakes")
    text = _big_module()
    ctx = gather(
        text, Range.of(101, 4, 101, 20), path="/ws/m.py", language_id="python", diagnostics=(diag,)
    )
    tiny = trim(ctx, 10)
    out = render(tiny)
    assert tiny.selection == ctx.selection and tiny.diagnostics == (diag,)
    assert "line 102: F821 undefined name" in out and "Surrounding code" not in out
    assert tiny.enclosing is None and tiny.tokens > 10


def test_trim_cuts_a_long_enclosing_scope_around_the_selection():
    body = "".join(f"    v{i} = {i} * {i} + {i}\n" for i in range(200))
    text = "def big():\n" + body + "    return v0\n"
    ctx = gather(text, Range.of(100, 4, 100, 6), path="/ws/b.py", language_id="python")
    assert ctx.enclosing_range == Range.of(0, 0, 201, 13)
    small = trim(ctx, 300)
    assert small.tokens <= 300
    assert "v99 = 99" in small.enclosing and "v0 = 0" not in small.enclosing
    assert small.enclosing.startswith("... (") and "lines omitted) ..." in small.enclosing


def test_context_is_plain_data():
    ctx = py(SRC, Range.of(8, 12, 8, 25))
    assert isinstance(ctx, Context)
    assert attrs.evolve(ctx, tokens=1).tokens == 1


def test_gather_is_fast_on_a_300_line_file():
    text = _big_module(60)  # 300 lines
    assert len(text.splitlines()) == 300
    broken = text.replace("def f31(a, b):", "def f31(a, b:")
    for src, line in ((text, 151), (broken, 156)):
        runs = []
        for _ in range(15):
            t = time.perf_counter()
            gather(src, Range.of(line, 4, line, 4), path="/ws/m.py", language_id="python")
            runs.append(time.perf_counter() - t)
        assert statistics.median(runs) < 0.005
