"""Model answers become minimal, correctly placed edits — or are refused."""

from __future__ import annotations

import random

import pytest

from routerls.edits import (
    EditError,
    EditResult,
    FileCreate,
    TextEdit,
    apply_edits,
    build_result,
    minimal_edits,
    new_test_path,
    rebase_edits,
)
from routerls.extract import extract_code
from routerls.text import UTF8, UTF32, Range, line_starts, offset_of

CLASS = (
    "class Cart:\n"
    "    def total(self, items):\n"
    "        s = 0\n"
    "        for it in items:\n"
    "            s += it.price\n"
    "        return s\n"
    "\n"
    "    def empty(self):\n"
    "        return True\n"
)


def edit(l1, c1, l2, c2, text):
    return TextEdit(Range.of(l1, c1, l2, c2), text)


def replace(doc, rng, answer, **kw):
    kw.setdefault("path", "/ws/pkg/cart.py")
    return build_result("replace", doc, rng, answer, **kw)


# --- extract_code ---------------------------------------------------------------------------------


def test_fenced_code_is_taken_without_the_chatter_around_it():
    answer = (
        "Here is the fixed code:\n\n```python\ndef f(x):\n    return x + 1\n```\n\n"
        "I changed the increment from 2 to 1 because the spec says so."
    )
    assert extract_code(answer) == "def f(x):\n    return x + 1"


def test_the_largest_block_wins_and_a_language_tag_is_preferred():
    answer = (
        "```bash\npip install frobnicate --upgrade --no-cache-dir --quiet\n```\n"
        "then\n```py\nimport frob\n```\n"
    )
    assert extract_code(answer) == "pip install frobnicate --upgrade --no-cache-dir --quiet"
    assert extract_code(answer, language_id="python") == "import frob"


def test_an_unclosed_fence_runs_to_the_end_and_tilde_fences_work():
    assert extract_code("Sure!\n```js\nlet a = 1;\nlet b = 2;") == "let a = 1;\nlet b = 2;"
    assert extract_code("~~~\nx = 1\n~~~\nDone.") == "x = 1"


def test_without_fences_leading_chatter_and_trailing_prose_go_but_indentation_stays():
    answer = (
        "Here's the corrected version:\n"
        "    if x is None:\n"
        "        return 0\n"
        "\n"
        "This avoids the TypeError when x is missing from the request.\n"
    )
    assert extract_code(answer) == "    if x is None:\n        return 0"


def test_plain_code_is_left_alone():
    code = "def f():\n    # Here is a comment.\n    return 1"
    assert extract_code(code) == code


# --- minimal_edits --------------------------------------------------------------------------------


def test_identical_text_needs_no_edits():
    assert minimal_edits(CLASS, Range.of(8, 0, 9, 0), "        return True\n") == ()


def test_one_changed_token_is_one_small_edit():
    doc = "total = price * qty\n"
    new = "total = price * quantity"
    assert minimal_edits(doc, Range.of(0, 0, 0, 19), new) == (edit(0, 16, 0, 19, "quantity"),)


def test_separate_changes_in_one_line_block_stay_separate():
    doc = "a = foo(1)\nb = foo(2)\n"
    new = "a = bar(1)\nb = bar(2)\n"
    assert minimal_edits(doc, Range.of(0, 0, 2, 0), new) == (
        edit(0, 4, 0, 7, "bar"),
        edit(1, 4, 1, 7, "bar"),
    )


def test_added_lines_are_an_insertion_at_a_line_start():
    doc = "def f(x):\n    return x\n"
    new = "def f(x):\n    x = int(x)\n    return x\n"
    assert minimal_edits(doc, Range.of(0, 0, 2, 0), new) == (edit(1, 0, 1, 0, "    x = int(x)\n"),)


def test_columns_are_utf16_after_emoji_and_cjk():
    doc = 'msg = "😀中" + nme\n'
    # "nme" starts at UTF-16 column 7 + 2 (😀 is a surrogate pair) + 1 + 4 = 14.
    new = 'msg = "😀中" + name'
    assert minimal_edits(doc, Range.of(0, 0, 0, 17), new) == (edit(0, 14, 0, 17, "name"),)
    assert minimal_edits(doc, Range.of(0, 0, 0, 16), new, UTF32) == (edit(0, 13, 0, 16, "name"),)
    assert minimal_edits(doc, Range.of(0, 0, 0, 21), new, UTF8) == (edit(0, 18, 0, 21, "name"),)


def test_crlf_is_never_split():
    doc = "a = 1\r\nb = 2\r\n"
    new = "a = 1\r\nx = 0\r\nb = 2\r\n"
    edits = minimal_edits(doc, Range.of(0, 0, 2, 0), new)
    assert edits == (edit(1, 0, 1, 0, "x = 0\r\n"),)
    assert apply_edits(doc, edits) == new


def test_minimal_edits_round_trip_on_random_text():
    rnd = random.Random(7)
    alphabet = ["a", "b", " ", "(", ")", "\n", "\r\n", "\r", "😀", "中", "    "]
    for _ in range(400):
        doc = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 30)))
        starts = line_starts(doc)
        n_lines = len(starts)
        l1 = rnd.randrange(n_lines)
        l2 = rnd.randrange(l1, n_lines)
        rng = Range.of(l1, rnd.randint(0, 3), l2, rnd.randint(0, 6))
        if rng.end < rng.start:
            rng = Range(rng.start, rng.start)
        new = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 20)))
        for enc in ("utf-16", UTF8, UTF32):
            s, e = offset_of(doc, rng.start, enc), offset_of(doc, rng.end, enc)
            got = apply_edits(doc, minimal_edits(doc, rng, new, enc), enc)
            assert got == doc[:s] + new + doc[e:], (doc, rng, new, enc)


# --- apply_edits ----------------------------------------------------------------------------------


def test_apply_edits_takes_any_order_and_refuses_overlap():
    doc = "one two three\n"
    edits = [edit(0, 8, 0, 13, "3"), edit(0, 0, 0, 3, "1"), edit(0, 4, 0, 4, "and ")]
    assert apply_edits(doc, edits) == "1 and two 3\n"
    with pytest.raises(ValueError, match="overlapping"):
        apply_edits(doc, [edit(0, 0, 0, 5, "x"), edit(0, 3, 0, 7, "y")])


# --- build_result: replace ------------------------------------------------------------------------


def test_a_fenced_fix_becomes_one_token_edit():
    answer = (
        "Here is the fixed method:\n\n```python\ndef total(self, items):\n    s = 0\n"
        "    for it in items:\n        s += it.cost\n    return s\n```\n"
        "The attribute is called cost, not price."
    )
    result = replace(CLASS, Range.of(1, 0, 6, 0), answer)
    assert result == EditResult(edits=(edit(4, 20, 4, 25, "cost"),))


def test_a_dedented_method_body_is_reindented():
    body = Range.of(2, 0, 6, 0)  # the four body lines, with the final newline
    answer = "s = 0\nfor it in items:\n    s += it.price * it.qty\nreturn s\n"
    result = replace(CLASS, body, answer)
    assert result.edits == (edit(4, 25, 4, 25, " * it.qty"),)
    assert apply_edits(CLASS, result.edits).splitlines()[4] == "            s += it.price * it.qty"


def test_a_selection_from_def_keeps_its_place_whichever_way_the_model_indents():
    rng = Range.of(1, 4, 5, 16)  # from "def" to the end of "return s"
    dedented = "def total(self, items):\n    return sum(it.price for it in items)"
    mirrored = "def total(self, items):\n        return sum(it.price for it in items)"
    expected = CLASS.replace(
        "        s = 0\n        for it in items:\n            s += it.price\n        return s",
        "        return sum(it.price for it in items)",
    )
    for answer in (dedented, mirrored):
        assert apply_edits(CLASS, replace(CLASS, rng, answer).edits) == expected


def test_a_mid_line_selection_is_replaced_inline():
    doc = "    total = compute(a, b)\n"
    result = replace(doc, Range.of(0, 12, 0, 25), "```\ncompute(a, b, c)\n```")
    assert result.edits == (edit(0, 24, 0, 24, ", c"),)


def test_crlf_documents_get_crlf():
    doc = "def f():\r\n    return 1\r\n"
    result = replace(doc, Range.of(0, 0, 2, 0), "def f():\n    x = 1\n    return x\n")
    assert apply_edits(doc, result.edits) == "def f():\r\n    x = 1\r\n    return x\r\n"
    assert all("\n" not in e.new_text.replace("\r\n", "") for e in result.edits)


def test_selection_at_eof_without_final_newline_stays_without_one():
    doc = "def f():\n    return 1"
    result = replace(doc, Range.of(1, 0, 1, 12), "```python\n    return 2\n```\n")
    assert result.edits == (edit(1, 11, 1, 12, "2"),)
    assert apply_edits(doc, result.edits) == "def f():\n    return 2"


def test_a_range_ending_in_a_newline_keeps_it():
    doc = "x = 1\ny = 2\n"
    result = replace(doc, Range.of(0, 0, 1, 0), "x = 10")
    assert apply_edits(doc, result.edits) == "x = 10\ny = 2\n"


def test_an_empty_range_replaces_the_enclosing_function_the_model_saw():
    answer = "def empty(self):\n    return not self.items\n"
    result = replace(CLASS, Range.of(8, 8, 8, 8), answer)
    assert result.edits == (edit(8, 15, 8, 19, "not self.items"),)


@pytest.mark.parametrize(
    "answer",
    [
        "I cannot help with that.",
        "I'm sorry, but I can't modify this code.",
        "The function looks correct to me and does not need any changes.",
    ],
)
@pytest.mark.parametrize("language_id", ["python", "javascript"])
def test_prose_is_refused(answer, language_id):
    with pytest.raises(EditError, match="prose"):
        replace(CLASS, Range.of(1, 0, 6, 0), answer, language_id=language_id)


def test_prose_is_fine_where_the_document_is_prose():
    doc = "# Title\n\nOld paragraph here.\n"
    new = "A clearer paragraph that says the same thing."
    result = replace(doc, Range.of(2, 0, 3, 0), new, language_id="markdown", path="/ws/README.md")
    assert apply_edits(doc, result.edits) == "# Title\n\n" + new + "\n"


def test_empty_answers_are_refused():
    with pytest.raises(EditError, match="empty"):
        replace(CLASS, Range.of(1, 0, 6, 0), "  \n")
    with pytest.raises(EditError, match="no code"):
        replace(CLASS, Range.of(1, 0, 6, 0), "```python\n```")


def test_python_that_stopped_parsing_is_refused():
    with pytest.raises(EditError, match="model output is not valid Python: .*never closed"):
        replace(CLASS, Range.of(1, 0, 6, 0), "def total(self, items:\n    return 0\n")


def test_a_broken_selection_may_be_fixed_by_code_that_parses():
    doc = "def f(:\n    return 1\n"
    result = replace(doc, Range.of(0, 0, 2, 0), "def f():\n    return 1\n")
    assert result.edits == (edit(0, 6, 0, 6, ")"),)


# --- build_result: other kinds --------------------------------------------------------------------


def test_insert_above_uses_the_first_lines_indentation():
    answer = "```python\n# Sum of prices.\n# Empty carts total 0.\n```"
    result = build_result("insert_above", CLASS, Range.of(2, 8, 5, 16), answer, path="/ws/cart.py")
    assert result.edits == (
        edit(2, 0, 2, 0, "        # Sum of prices.\n        # Empty carts total 0.\n"),
    )


def test_insert_above_in_a_crlf_document():
    doc = "x = 1\r\ny = 2\r\n"
    result = build_result("insert_above", doc, Range.of(1, 0, 1, 5), "# why y", path="/ws/a.py")
    assert apply_edits(doc, result.edits) == "x = 1\r\n# why y\r\ny = 2\r\n"


def test_markdown_is_passed_through_untouched():
    text = "**Explain**: this loops.\n\n```python\nx\n```\n"
    assert build_result(
        "markdown", CLASS, Range.of(0, 0, 1, 0), text, path="/ws/a.py"
    ) == EditResult(markdown=text)


def test_new_file_goes_into_the_projects_tests_folder(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "tests").mkdir()
    src = tmp_path / "src" / "pkg" / "cart.py"
    answer = "```python\nfrom pkg.cart import Cart\n\n\ndef test_total():\n    assert Cart\n```"
    result = build_result(
        "new_file", CLASS, Range.of(0, 0, 9, 0), answer, path=str(src), workspace_root=str(tmp_path)
    )
    expected = "from pkg.cart import Cart\n\n\ndef test_total():\n    assert Cart\n"
    assert result == EditResult(
        create=FileCreate(str(tmp_path / "tests" / "test_cart.py"), expected)
    )


def test_new_file_must_parse():
    with pytest.raises(EditError, match="not valid Python"):
        build_result(
            "new_file", CLASS, Range.of(0, 0, 1, 0), "def test_x(:\n  pass", path="/ws/a.py"
        )


def test_new_test_path_choices():
    existing = {"/ws/.git", "/ws/tests", "/ws/tests/test_cart.py", "/ws/tests/test_cart_ai.py"}
    exists = existing.__contains__
    # the nearest tests/ going up; taken names get _ai, then _ai2
    assert new_test_path("/ws/src/pkg/cart.py", workspace_root="/ws", exists=exists) == (
        "/ws/tests/test_cart_ai2.py"
    )
    assert new_test_path("/ws/src/pkg/util.py", workspace_root="/ws", exists=exists) == (
        "/ws/tests/test_util.py"
    )
    # a test/ folder nearer the file wins over the root's tests/
    nearer = (existing | {"/ws/src/test"}).__contains__
    assert new_test_path("/ws/src/pkg/util.py", workspace_root="/ws", exists=nearer) == (
        "/ws/src/test/test_util.py"
    )
    # no tests folder: tests/ under the workspace root, else the project root, else beside the file
    assert (
        new_test_path("/ws/a/b.py", workspace_root="/ws", exists=lambda p: False)
        == "/ws/tests/test_b.py"
    )
    proj = {"/p/pyproject.toml"}.__contains__
    assert new_test_path("/p/lib/b.py", exists=proj) == "/p/tests/test_b.py"
    assert new_test_path("/x/y/b.py", exists=lambda p: False) == "/x/y/tests/test_b.py"
    # a package's __init__ is tested under the package's name
    assert new_test_path("/ws/pkg/__init__.py", workspace_root="/ws", exists=exists) == (
        "/ws/tests/test_pkg.py"
    )
    # other ecosystems keep their own conventions
    assert new_test_path(
        "/ws/svc/h.go", language_id="go", exists={"/ws/svc/h_test.go"}.__contains__
    ) == ("/ws/svc/h_ai_test.go")
    assert (
        new_test_path("/ws/ui/app.ts", language_id="typescript", exists=exists)
        == "/ws/ui/app.test.ts"
    )


# --- rebase_edits ---------------------------------------------------------------------------------


def test_edits_follow_the_range_when_lines_are_inserted_above():
    rng = Range.of(4, 0, 5, 0)
    edits = (edit(4, 20, 4, 25, "cost"),)
    newer = "import os\n\n" + CLASS
    assert rebase_edits(CLASS, newer, rng, edits) == (edit(6, 20, 6, 25, "cost"),)
    assert apply_edits(
        newer, rebase_edits(CLASS, newer, rng, edits)
    ) == "import os\n\n" + CLASS.replace("it.price", "it.cost")


def test_edits_stay_put_when_the_change_is_below():
    rng = Range.of(4, 0, 5, 0)
    edits = (edit(4, 20, 4, 25, "cost"),)
    assert rebase_edits(CLASS, CLASS + "\nX = 1\n", rng, edits) == edits


def test_a_change_on_the_same_line_outside_the_range_is_tolerated_if_unambiguous():
    doc = "value = compute(a)  # todo\n"
    newer = "value = compute(a)  # done, checked\n"
    rng = Range.of(0, 8, 0, 18)
    edits = (edit(0, 16, 0, 17, "b"),)
    assert rebase_edits(doc, newer, rng, edits) == edits


def test_rebase_gives_up_when_the_range_changed_or_is_ambiguous():
    rng = Range.of(4, 0, 5, 0)
    edits = (edit(4, 20, 4, 25, "cost"),)
    assert (
        rebase_edits(CLASS, CLASS.replace("s += it.price", "s += it.price * 2"), rng, edits) is None
    )
    doc = "a = 1; b = 2\n"
    newer = "# c\na = 1; b = 3\nc = 4; a = 1\n"  # its line changed, "a = 1" is there twice
    assert rebase_edits(doc, newer, Range.of(0, 0, 0, 5), (edit(0, 4, 0, 5, "9"),)) is None


def test_line_starts_counts_lf_crlf_and_lone_cr():
    # text.line_starts is now a regex; it must still treat \r\n as one break
    assert line_starts("a\nb\r\nc\rd") == [0, 2, 5, 7]
    assert line_starts("\r\n\r\r\n\n") == [0, 2, 3, 5, 6]
    assert line_starts("") == [0]
