"""The fault matrix, end to end: a real `routerls serve`, an editor-like client, and a scripted
model server that misbehaves on purpose. For every fault the run has one defined outcome — a
fallback to the next model, a clear error, or a correct edit — the document is never left
half-edited, and the ledger holds one consistent set of rows per request.

One file per concern; they share one server (conftest.py) and the helpers in matrix.py.
"""
