"""What answers a request: litellm (cloud models and OpenAI-compatible servers, `litellm.py`),
command-line programs as models (`command.py`), the tools tier (`tools.py`), the embedded local
runtime (`local/`), and `availability`, which decides which of them can answer on this machine.
Nothing is imported here, so importing one backend costs only that backend."""
