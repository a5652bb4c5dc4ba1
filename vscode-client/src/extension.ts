// Activation only: the status bar, the commands, the client and the settings watcher.
import * as vscode from "vscode";
import { LanguageClient } from "vscode-languageclient/node";
import { PICK_STRATEGY, RESTART, RUN_WITH_TIER, pickStrategy, runWithTier, showReport } from "./common/commands";
import { Dashboard, SHOW_DASHBOARD } from "./common/dashboard";
import { needsRestart, RouterlsSettings } from "./common/options";
import { markdownShownAt, sendSettings, startClient } from "./common/server";
import { onSettingsChanged, readSettings } from "./common/settings";
import { SHOW_REPORT, SpendStatusBar } from "./common/statusBar";
import { log, outputChannel } from "./log/logging";

let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const bar = new SpendStatusBar();
  const dashboard = new Dashboard(() => client);
  let settings: RouterlsSettings = readSettings();

  const settingsChanged = () => {
    const next = readSettings();
    const restartNeeded = needsRestart(settings, next);
    settings = next;
    if (restartNeeded) void restart();
    else if (client) void sendSettings(client, settings);
  };

  const restart = async () => {
    const old = client;
    client = undefined;
    if (old) await old.stop().catch((e) => log(`stopping the server: ${e}`));
    try {
      client = await startClient(settings, bar);
    } catch (e) {
      bar.stopped();
      log(`the server did not start: ${e}`);
      void vscode.window.showErrorMessage(
        `routerls: the server did not start (${e}). Set routerls.serverPath or routerls.interpreter.`, "Show log")
        .then((choice) => choice && outputChannel().show());
    }
  };

  context.subscriptions.push(
    bar,
    outputChannel(),
    vscode.commands.registerCommand(RUN_WITH_TIER, () => runWithTier(client)),
    vscode.commands.registerCommand(PICK_STRATEGY, pickStrategy),
    vscode.commands.registerCommand(SHOW_REPORT, () => {
      const asked = Date.now();
      return showReport(client, () => markdownShownAt >= asked);
    }),
    vscode.commands.registerCommand(RESTART, restart),
    dashboard,
    vscode.commands.registerCommand(SHOW_DASHBOARD, () => dashboard.show()),
    bar.onRunFinished(() => void dashboard.refresh()),
    onSettingsChanged(() => settingsChanged()),
    // trusting the workspace in VS Code lets the server offer routerls' own trust
    vscode.workspace.onDidGrantWorkspaceTrust(() => settingsChanged()),
  );
  await restart();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
