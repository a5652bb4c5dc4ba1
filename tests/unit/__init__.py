"""Pure functions and small modules called directly: no language server, no editor."""
