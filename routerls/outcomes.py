"""What became of an edit the server applied, read from the document's text afterwards.

Pure: the server feeds it the document text after each `didChange`, each new run, and the
clock; it answers with the outcomes that are final. Per applied edit:

- *undone*: the text the edit replaced is back (an editor's undo, or the user retyping it);
- *reworked*: the user changed text inside what the edit wrote, and did not undo it;
- *rerun*: the same action ran again on an overlapping range (a stronger tier included);
- *kept*: none of these within the window.

Where the edit is, is found by comparing whole texts (common prefix and suffix), not by
following each change event, so an editor that sends full-text or range changes reads the same.
"""

from __future__ import annotations

import attrs


def _common_prefix(a: str, b: str) -> int:
    """Length of the common prefix, by halving slices (C-speed compares, not a Python loop)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, limit: int) -> int:
    lo, hi = 0, min(len(a), len(b), limit)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid:len(a) - lo] == b[len(b) - mid:len(b) - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def changed_span(old: str, new: str) -> tuple[int, int, int]:
    """(start, end in `old`, end in `new`) of the one span where the texts differ."""
    p = _common_prefix(old, new)
    s = _common_suffix(old, new, min(len(old), len(new)) - p)
    return p, len(old) - s, len(new) - s


@attrs.define
class Applied:
    """One applied edit being watched."""

    request_id: str
    uri: str
    action: str
    task: str
    tier: str
    before: str  # the document before the edit
    after: str  # the document as the edit left it
    start: int  # the edit's span: before[start:end_before] became after[start:end_after]
    end_before: int
    end_after: int
    first_line: int  # the lines the edit wrote, in `after` (for re-runs)
    last_line: int
    deadline: float
    touched: bool = False

    @classmethod
    def of(cls, request_id: str, uri: str, action: str, task: str, tier: str, before: str,
           after: str, deadline: float) -> Applied:
        start, end_before, end_after = changed_span(before, after)
        first = after.count("\n", 0, start)
        last = first + after.count("\n", start, end_after)
        return cls(request_id, uri, action, task, tier, before, after, start, end_before, end_after,
                   first, last, deadline)

    def observe(self, text: str) -> str | None:
        """'undone' once the replaced text is back; marks `touched` when the user changed what
        the edit wrote."""
        if text == self.after:
            return None
        if text == self.before:
            return "undone"
        start, end_old, _ = changed_span(self.after, text)
        inside = start <= self.end_after and end_old >= self.start
        if not inside:
            return None  # the user worked elsewhere in the file
        b_start, b_end, _ = changed_span(self.before, text)
        if b_start > self.end_before or b_end < self.start:
            # what differs from the text before the edit lies outside the edit: the edit is gone
            return "undone"
        self.touched = True
        return None


@attrs.define
class Tracker:
    """The applied edits awaiting an outcome."""

    pending: list[Applied] = attrs.field(factory=list)

    def watch(self, applied: Applied) -> None:
        self.pending.append(applied)

    def changed(self, uri: str, text: str) -> list[tuple[Applied, str]]:
        done = []
        for a in [a for a in self.pending if a.uri == uri]:
            outcome = a.observe(text)
            if outcome is not None:
                done.append((a, outcome))
                self.pending.remove(a)
        return done

    def rerun(self, uri: str, action: str, first_line: int, last_line: int) -> list[tuple[Applied, str]]:
        """A new run of `action` on these lines repeats a watched edit that overlaps them."""
        done = [(a, "rerun") for a in self.pending
                if a.uri == uri and a.action == action and first_line <= a.last_line and last_line >= a.first_line]
        for a, _ in done:
            self.pending.remove(a)
        return done

    def superseded(self, uri: str, first_line: int, last_line: int) -> list[tuple[Applied, str]]:
        """The server is about to apply another action's edit over these lines: that is not the
        user's rework, and the user built on the earlier edit, so it ends now as it stands."""
        done = [(a, "reworked" if a.touched else "kept") for a in self.pending
                if a.uri == uri and first_line <= a.last_line and last_line >= a.first_line]
        for a, _ in done:
            self.pending.remove(a)
        return done

    def expire(self, now: float) -> list[tuple[Applied, str]]:
        """Edits whose window is over: reworked when touched, else kept."""
        done = [(a, "reworked" if a.touched else "kept") for a in self.pending if a.deadline <= now]
        for a, _ in done:
            self.pending.remove(a)
        return done

    def closed(self, uri: str) -> list[tuple[Applied, str]]:
        """The document was closed: what was not undone by then stays as it is."""
        done = [(a, "reworked" if a.touched else "kept") for a in self.pending if a.uri == uri]
        for a, _ in done:
            self.pending.remove(a)
        return done
