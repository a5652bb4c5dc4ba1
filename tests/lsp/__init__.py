"""Through a real LSP client: `routerls serve` driven as an editor drives it (pytest-lsp, raw frames)."""
