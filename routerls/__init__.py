"""routerls: AI code actions in any LSP editor, each routed to the cheapest model that does it well."""

__version__ = "0.1.0"
