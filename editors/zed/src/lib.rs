// Starts `routerls serve` (found on the worktree's PATH, or `lsp.routerls.binary.path` in Zed's
// settings) and passes `lsp.routerls.initialization_options` on to it.
use zed_extension_api::{self as zed, settings::LspSettings, LanguageServerId, Result};

struct Routerls;

impl zed::Extension for Routerls {
    fn new() -> Self {
        Routerls
    }

    fn language_server_command(
        &mut self,
        id: &LanguageServerId,
        worktree: &zed::Worktree,
    ) -> Result<zed::Command> {
        let binary = LspSettings::for_worktree(id.as_ref(), worktree)
            .ok()
            .and_then(|s| s.binary);
        let command = binary
            .as_ref()
            .and_then(|b| b.path.clone())
            .or_else(|| worktree.which("routerls"))
            .ok_or_else(|| "routerls not found on PATH: install it or set lsp.routerls.binary.path".to_string())?;
        let args = binary
            .and_then(|b| b.arguments)
            .unwrap_or_else(|| vec!["serve".to_string()]);
        Ok(zed::Command { command, args, env: worktree.shell_env() })
    }

    fn language_server_initialization_options(
        &mut self,
        id: &LanguageServerId,
        worktree: &zed::Worktree,
    ) -> Result<Option<zed::serde_json::Value>> {
        Ok(LspSettings::for_worktree(id.as_ref(), worktree)
            .ok()
            .and_then(|s| s.initialization_options))
    }
}

zed::register_extension!(Routerls);
