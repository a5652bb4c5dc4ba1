"""Prompts that small local models can follow: completion templates and few-shot chats.

A 135M–270M model does not follow "add a docstring, return only the code". It does continue a
pattern. So for small models each action that can be phrased as a pattern gets one:

- `completion` style (base models such as Gemma 3 270M, no chat template): the answer is the
  continuation of a prefix. A docstring is the text after the function header's `\"\"\"`, after
  a few examples of code followed by the same code with its docstring. We then rebuild the
  selection around the generated line, so the model never has to copy code back.
- `chat` style on a small model (SmolLM2 135M Instruct): the same instruction, but preceded by one
  worked example exchange, and the context cut down to the selection alone.

Pure: no I/O, no litellm. `completion_prompt` returns None for an action the style cannot do; the
caller then moves on to the next model (a base model cannot `explain`).
"""

from __future__ import annotations

import re

import attrs

# Only the first line of a docstring is generated: small models ramble after it.
DOCSTRING_MAX_TOKENS = 48
MAX_BODY_LINES = 40  # a long body adds nothing a one-line summary needs, and costs prefill time


@attrs.frozen
class CompletionPrompt:
    """A plain-completion request and how to turn its continuation into the action's answer."""

    prompt: str
    stop: tuple[str, ...]
    max_tokens: int
    before: str  # the selection up to where the generated text goes
    after: str  # the rest of the selection
    indent: str  # the generated text's indentation
    language_id: str = "python"

    def finish(self, generated: str) -> str:
        """The answer as a chat model would give it (one fenced block), or "" if unusable."""
        line = _clean_docstring(generated)
        if not line:
            return ""
        code = f'{self.before}{self.indent}"""{line}"""\n{self.after}'
        return f"```{self.language_id}\n{code.rstrip()}\n```"


# --- docstring as a continuation ------------------------------------------------------------------

_DOCSTRING_SHOTS = (
    ("def add(a, b):\n    return a + b\n",
     "Return the sum of a and b."),
    ("def is_even(n):\n    return n % 2 == 0\n",
     "Return True if n is even, else False."),
    ("def read_lines(path):\n    with open(path) as f:\n        return f.read().splitlines()\n",
     "Return the lines of the file at path, without line endings."),
    ("class Stack:\n    def __init__(self):\n        self.items = []\n",
     "A last-in, first-out collection of items."),
)

_HEADER_START = re.compile(r"^([ \t]*)(?:async[ \t]+def|def|class)[ \t]+\w")
_DOC_START = re.compile(r"^[ \t]*[rRuUbBfF]{0,2}(\"\"\"|'''|\"|')")


def _header(code: str) -> str:
    """The `def`/`class` header of an example, to end a shot with."""
    return code.split("\n", 1)[0]


def docstring_prefix(code: str, header: str) -> str:
    """The few-shot prefix: examples of code, then the same header with its docstring."""
    parts = []
    for example, doc in _DOCSTRING_SHOTS:
        parts.append(f"# Code:\n{example}# With docstring:\n{_header(example)}\n    \"\"\"{doc}\"\"\"\n\n")
    parts.append(f"# Code:\n{code.rstrip()}\n# With docstring:\n{header}\n    \"\"\"")
    return "".join(parts)


def _split_header(lines: list[str], start: int) -> int | None:
    """Index of the line that ends the header starting at `start` (the one with the colon)."""
    depth = 0
    for i in range(start, len(lines)):
        code = lines[i].split("#", 1)[0].rstrip()
        depth += sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
        if depth <= 0 and code.endswith(":"):
            return i
        if depth <= 0 and i > start and not code.endswith(("\\", ",")) and ":" in code:
            return None  # a one-line `def f(): return 1`: nothing to insert between
    return None


def docstring_completion(selection: str, language_id: str = "python") -> CompletionPrompt | None:
    """A completion prompt that writes the first function/class docstring the selection lacks.

    None when the selection holds no Python `def`/`class`, holds more than one, or its one
    definition already has a docstring ("improve" needs a chat model).
    """
    if language_id != "python":
        return None
    lines = selection.splitlines(keepends=True)
    bare = [x.rstrip("\r\n") for x in lines]
    heads = [i for i, x in enumerate(bare) if _HEADER_START.match(x)]
    if len(heads) != 1:
        return None
    start = heads[0]
    end = _split_header(bare, start)
    if end is None:
        return None
    def_indent = _HEADER_START.match(bare[start]).group(1)
    nxt = next((x for x in bare[end + 1:] if x.strip()), None)
    if nxt is not None and _DOC_START.match(nxt):
        return None
    if nxt is not None and len(nxt) - len(nxt.lstrip()) > len(def_indent):
        indent = nxt[: len(nxt) - len(nxt.lstrip())]
    else:
        indent = def_indent + ("\t" if def_indent.startswith("\t") else "    ")
    # the example the model sees: the definition dedented to column 0, its body cut short
    block = bare[start:start + (end - start) + 1 + MAX_BODY_LINES]
    shown = "\n".join(x[len(def_indent):] if x.startswith(def_indent) else x.lstrip() for x in block)
    header = "\n".join(x[len(def_indent):] if x.startswith(def_indent) else x.lstrip()
                       for x in bare[start:end + 1])
    before = "".join(lines[:end + 1])
    if not before.endswith(("\n", "\r")):
        before += "\n"
    return CompletionPrompt(
        prompt=docstring_prefix(shown, header),
        stop=('"""', "\n"),
        max_tokens=DOCSTRING_MAX_TOKENS,
        before=before,
        after="".join(lines[end + 1:]),
        indent=indent,
        language_id=language_id,
    )


def _clean_docstring(text: str) -> str:
    """One safe line: no quotes that would close the string early, no backslashes, a full stop."""
    line = text.strip().split("\n", 1)[0].strip()
    line = line.replace("\\", "").replace('"""', "").rstrip('"').strip()
    if not line or not re.search(r"[A-Za-z]", line):
        return ""
    if line[0].islower():
        line = line[0].upper() + line[1:]
    if line[-1] not in ".!?":
        line += "."
    return line


TEMPLATES = {"docstring": docstring_completion}


def completion_prompt(action: str, selection: str, language_id: str) -> CompletionPrompt | None:
    """The completion-style prompt for `action`, or None when that action has no template."""
    template = TEMPLATES.get(action)
    return template(selection, language_id) if template is not None else None


# --- few-shot chats for small instruction models ----------------------------------------------------

_FENCE = "```"


def _ask(instruction: str, code: str, language: str) -> str:
    return f"{instruction}\n\n{_FENCE}{language}\n{code.rstrip()}\n{_FENCE}"


def _answer(code: str, language: str) -> str:
    return f"{_FENCE}{language}\n{code.rstrip()}\n{_FENCE}"


_CHAT_SHOTS: dict[str, tuple[str, str, str]] = {
    # action: (instruction, example input, example output) — Python only for now
    "format": (
        ("Reformat this Python code to PEP 8 style. Change only spacing and line breaks. "
         "Return only the code."),
        "def area(w,h) :\n  result=w*h\n  return   result\n",
        "def area(w, h):\n    result = w * h\n    return result\n",
    ),
    "docstring": (
        "Add a docstring to this Python function. Change nothing else. Return only the code.",
        "def area(w, h):\n    return w * h\n",
        'def area(w, h):\n    """Return the area of a w by h rectangle."""\n    return w * h\n',
    ),
}

SMALL_SYSTEM = "You rewrite code exactly as asked and answer with one code block."


def few_shot_messages(action: str, selection: str, language_id: str,
                      instruction: str | None = None) -> list[dict[str, str]] | None:
    """Chat messages with one worked example, for a small instruction model; None when the action
    has no example (the caller uses the ordinary prompt)."""
    shot = _CHAT_SHOTS.get(action)
    if shot is None or language_id != "python" or not selection.strip():
        return None
    ask, example_in, example_out = shot
    request = ask if not instruction else f"{ask} Also: {instruction}"
    return [
        {"role": "system", "content": SMALL_SYSTEM},
        {"role": "user", "content": _ask(ask, example_in, "python")},
        {"role": "assistant", "content": _answer(example_out, "python")},
        {"role": "user", "content": _ask(request, _dedent(selection), "python")},
    ]


def _dedent(code: str) -> str:
    import textwrap

    return textwrap.dedent(code)


# --- choosing the prompt for one model ------------------------------------------------------------

def for_model(action, selection: str, language_id: str, instruction: str | None, style: str,
              small: bool, messages: list[dict[str, str]]):
    """What to send one model for `action`: a completion prompt for a `completion`-style model
    (None when the action has no template: that model is passed over), one-example chat
    messages for a small chat model, else the ordinary `messages`."""
    if style == "completion":
        if not action.builtin or instruction:
            return None  # a template cannot carry a user's own prompt or instruction
        return completion_prompt(action.name, selection, language_id)
    if small and action.builtin:
        shots = few_shot_messages(action.name, selection, language_id, instruction)
        if shots is not None:
            return shots
    return messages

