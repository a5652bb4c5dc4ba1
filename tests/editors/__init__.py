"""Real editors and a real browser: Neovim, Emacs/eglot, VS Code (Node client and code-server), Chromium."""
