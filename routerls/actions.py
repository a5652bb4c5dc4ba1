"""The actions users pick in the editor, and which of them apply to a range.

Pure and fast: `applicable` runs on every cursor move (via codeAction), so it does no I/O
and never touches litellm.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from routerls.config import Config

QUICKFIX = "quickfix"
REFACTOR = "refactor"
REFACTOR_REWRITE = "refactor.rewrite"
SOURCE = "source"

CODE_RULES = (
    "Return only the resulting code in one fenced code block, with no explanation. "
    "Keep the code's indentation and leave everything you were not asked to change exactly as it is."
)


@attrs.frozen
class Action:
    name: str
    title: str
    task: str
    kind: str  # the LSP CodeActionKind it is offered under
    result: str  # replace | insert_above | new_file | markdown
    prompt: str
    needs_diagnostics: bool = False
    builtin: bool = True

    @property
    def is_code(self) -> bool:
        return self.result != "markdown"


BUILTIN: tuple[Action, ...] = (
    Action("fix", "Fix", "fix", QUICKFIX, "replace",
           "Fix the problems reported in the diagnostics for the selected code. " + CODE_RULES,
           needs_diagnostics=True),
    Action("explain", "Explain", "explain", REFACTOR, "markdown",
           "Explain what the selected code does, how, and anything surprising about it. "
           "Answer in concise Markdown for a developer reading this code."),
    Action("tests", "Write tests", "tests", SOURCE, "new_file",
           "Write unit tests for the selected code with the project's test framework "
           "(pytest for Python). Import the code under test from its module. "
           "Return only the complete test file in one fenced code block."),
    Action("refactor", "Refactor", "refactor", REFACTOR_REWRITE, "replace",
           "Refactor the selected code for clarity and simplicity without changing its behaviour. "
           + CODE_RULES),
    Action("docstring", "Add docstring", "docstring", REFACTOR_REWRITE, "replace",
           "Add or improve the docstrings (or doc comments) of the selected code. "
           "Change nothing but documentation. " + CODE_RULES),
    Action("format", "Format", "format", REFACTOR_REWRITE, "replace",
           "Reformat the selected code to the language's standard style. "
           "Do not change what it does, its names or its comments. " + CODE_RULES),
    Action("design", "Design", "design", REFACTOR, "markdown",
           "Propose a design for what the selected code and instruction describe: components, "
           "interfaces, data flow, trade-offs and risks. Answer in Markdown."),
)

# actions the engine runs for itself, never offered in an editor's menu
INTERNAL: tuple[Action, ...] = (
    Action("plan", "Plan a multi-file change", "design", REFACTOR, "markdown",
           "Make the plan the text below asks for. Answer with only the JSON list it describes."),
)

_KIND_FOR_RESULT = {"markdown": REFACTOR, "new_file": SOURCE, "insert_above": REFACTOR_REWRITE,
                    "replace": REFACTOR_REWRITE}


def all_actions(config: Config) -> tuple[Action, ...]:
    """Built-ins, then the user's own actions in config order."""
    user = tuple(
        Action(a.name, a.title, a.task, _KIND_FOR_RESULT[a.result], a.result,
               a.prompt if a.result == "markdown" else a.prompt + " " + CODE_RULES, builtin=False)
        for a in config.actions
        if a.name not in {b.name for b in BUILTIN}
    )
    return BUILTIN + user


def find(actions: Iterable[Action], name: str) -> Action | None:
    return next((a for a in actions if a.name == name), None)


def applicable(actions: Iterable[Action], *, has_diagnostics: bool,
               only: Iterable[str] | None = None) -> list[Action]:
    """The actions to offer at a range: `fix` only where diagnostics overlap it.

    `only` is the client's `CodeActionContext.only` filter: a kind matches when it equals a
    requested kind or is a sub-kind of it (`refactor.rewrite` matches `refactor`).
    """
    wanted = tuple(only) if only else None
    out = []
    for action in actions:
        if action.needs_diagnostics and not has_diagnostics:
            continue
        if wanted is not None and not any(action.kind == k or action.kind.startswith(k + ".") for k in wanted):
            continue
        out.append(action)
    return out


SYSTEM_PROMPT = (
    "You are a precise coding assistant inside a code editor. Follow the instruction exactly "
    "and answer only with what was asked for."
)


def messages(action: Action, context_block: str, instruction: str | None = None) -> list[dict[str, str]]:
    """The chat messages for one action: our system prompt, then the task and its context."""
    parts = [action.prompt]
    if instruction:
        parts.append(f"Additional instruction from the user: {instruction}")
    parts.append(context_block)
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": "\n\n".join(parts)}]
