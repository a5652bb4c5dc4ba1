"""One way to write an amount of money, used by the CLI, the reports, the dashboard and the
editors' status lines (their copies in TypeScript, Lua and Elisp follow the same rule).

Below a dollar, four places: a single cheap call ($0.0004) must not read $0.00, and every
sub-dollar amount in a column lines up. From a dollar up, cents. The choice is made on the
rounded value, so $0.99996 reads $1.00, never $1.0000. Full precision is for `--json`.
"""

from __future__ import annotations


def money(x: float) -> str:
    """`$0.0042`, `$0.0120`, `$1.23`, `-$0.0030`."""
    value = float(x or 0.0)
    places = 2 if round(abs(value), 4) >= 1 else 4
    text = f"{abs(value):.{places}f}"
    negative = value < 0 and text.strip("0.") != ""
    return f"{'-' if negative else ''}${text}"
