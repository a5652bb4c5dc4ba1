"""The engine driven directly: plan, attempt, fall back, record — without the LSP or the CLI around it."""
