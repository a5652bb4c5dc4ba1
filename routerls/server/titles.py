"""What each code action's title says, and the start of its CodeAction JSON: both cached per
(action, language) on the session, because codeAction runs on every cursor move.

A title names the tier and model a run would use: `router.route` on the task alone, with the
spend as last read and the learned estimates; no context gathering, no I/O.
"""

from __future__ import annotations

import json

from routerls import actions as actions_mod
from routerls.backends import tools as tools_mod
from routerls.router import RouteError, Spend, route
from routerls.server.session import RUN, RouterServer


def title_of(ls: RouterServer, action: actions_mod.Action, language: str = "") -> tuple[str, str | None, str | None]:
    """`AI: Format (tools · ruff)`, `AI: Fix (mid · claude-haiku-4-5)`. A fix-type tool is
    only chosen once it has been asked about the diagnostics, so fix titles name the model
    tier; the run may still be served by the tool."""
    key = (action.name, language)
    got = ls.titles.get(key)
    if got is None:
        pick = tools_mod.pick(ls.config, action.name, language)
        tool = pick.entry.name if pick.entry is not None and pick.entry.fixable is None else None
        try:
            learned = (ls.engine.estimates(str(ls.root)) if ls.engine is not None and ls.root
                       else None)
            d = route(ls.config, action.task, spend=Spend(ls.spend.today_usd, ls.spend.month_usd),
                      tool=tool, learned=learned)
            tier, name = d.tier, d.model_name
            if d.tool is None:  # the model a run will use: keys, templates (no I/O)
                from routerls.backends.availability import likely

                found = likely(ls.config, d.tier, action.name)
                if found is not None:
                    tier, name = found[0], found[1].name
            got = (f"AI: {action.title} ({tier} · {name})", tier, name)
        except RouteError:
            got = (f"AI: {action.title}", None, None)
        ls.titles[key] = got
    return got


def action_json(ls: RouterServer, action: actions_mod.Action, language: str = "") -> str:
    """The start of the action's CodeAction JSON, up to where `{uri, range, version}` go."""
    key = (action.name, language)
    got = ls.titles_json.get(key)
    if got is None:
        got = ls.titles_json[key] = _action_json(ls, action, language)
    return got


def _action_json(ls: RouterServer, action: actions_mod.Action, language: str) -> str:
    title = json.dumps(title_of(ls, action, language)[0])
    head = f'{{"title": {title}, "kind": {json.dumps(action.kind)}, '
    call = f'{{"action": {json.dumps(action.name)}, '
    if ls.edit_on_resolve:  # the client can't take applyEdit: the edit comes on resolve
        return head + '"data": ' + call
    return head + f'"command": {{"title": {title}, "command": "{RUN}", "arguments": [' + call
