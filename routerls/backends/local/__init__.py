"""The local tier on this machine: small GGUF models served on loopback, started on demand.

`models` (which embedded models, where their files lie), `runtime` (start, reuse, stop the worker),
`worker` (the worker process: llama.cpp behind the OpenAI routes), `control` (`routerls local
serve|status|stop`), `check` (the install script's smoke check). Nothing is imported here: the
worker process starts from this package and needs none of the rest.
"""
