"""The backend answers, but badly: malformed JSON, nothing, prose instead of code, or far more
code than the selection."""

from __future__ import annotations

import pytest
from server_session import Reply, Session

from .matrix import EXPECTED, SOURCE, _consistent, _run_fault

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def test_malformed_json_falls_back(session: Session):
    uri, result = await _run_fault(session, "malformed.py", Reply(malformed=True))
    assert result["state"] == "done" and result["model"] == "gpt-4-turbo", result
    assert session.text(uri) == EXPECTED
    rows = _consistent(session, result)
    assert rows[0]["outcome"] == "bad_response"


async def test_empty_answer_falls_back(session: Session):
    uri, result = await _run_fault(session, "empty.py", Reply(text=""))
    assert result["state"] == "done" and result["model"] == "gpt-4-turbo", result
    assert session.text(uri) == EXPECTED
    _consistent(session, result, ["bad_response", "ok"])


async def test_prose_instead_of_code_is_rejected_and_escalated(session: Session):
    uri, result = await _run_fault(session, "prose.py",
                                   Reply(text="I'm sorry, but I can't help with refactoring this code."))
    assert result["state"] == "done" and result["model"] == "gpt-4-turbo", result
    assert session.text(uri) == EXPECTED
    rows = _consistent(session, result, ["bad_output", "ok"])
    assert "prose" in rows[0]["error"] or "declined" in rows[0]["error"]


async def test_answer_ten_times_longer_than_the_selection_is_applied_inside_the_range(session: Session):
    # every name used: an unused variable is a new finding, and that answer would be rejected
    body = "    steps = []\n" + "".join(f"    steps.append({i} * 2)\n" for i in range(14))
    long_answer = f"```python\ndef second():\n{body}    return steps[-1]\n```"
    uri, result = await _run_fault(session, "long.py", Reply(text=long_answer))
    assert result["state"] == "done" and result["model"] == "gpt-4o", result
    replacement = f"def second():\n{body}    return steps[-1]\n"
    assert len(replacement) >= 10 * len("def second():\n    return 2\n")
    assert session.text(uri) == SOURCE.replace("def second():\n    return 2\n", replacement)
    assert session.text(uri).startswith("def first():\n    return 1\n")  # nothing outside touched
