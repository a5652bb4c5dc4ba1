"""`python -m routerls.backends.local worker|check|smoke NAME`: the worker process the runtime
starts, and the smoke check `scripts/install-local.sh` runs."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    command = argv[:1]
    if command == ["worker"]:
        from routerls.backends.local import worker

        return worker.main(argv[1:])
    if command == ["smoke"] and len(argv) == 2:
        from routerls.backends.local import check

        return check.smoke_one(argv[1])
    if command == ["check"]:
        from routerls.backends.local import check

        return check.main()
    print("usage: python -m routerls.backends.local worker|check|smoke …", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
