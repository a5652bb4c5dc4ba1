"""The work behind `routerls` subcommands, one module per job; `cli.py` parses and dispatches."""
