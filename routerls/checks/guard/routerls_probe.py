"""A pytest plugin (`-p routerls_probe`) that writes each test's outcome as a JSON line to
`ROUTERLS_PROBE_OUT`, so routerls reads results, not pytest's console text."""

import json
import os

_out = None


def pytest_configure(config):
    global _out
    path = os.environ.get("ROUTERLS_PROBE_OUT")
    if path and _out is None:
        _out = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the whole session


def _write(record):
    if _out is not None:
        _out.write(json.dumps(record) + "\n")
        _out.flush()


def pytest_collectreport(report):
    if report.failed:
        _write({"id": report.nodeid or ".", "when": "collect", "outcome": "failed",
                "text": str(report.longrepr)[-3000:]})


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        _write({"id": report.nodeid, "when": report.when, "outcome": report.outcome,
                "text": str(report.longrepr)[-3000:] if report.failed else ""})
