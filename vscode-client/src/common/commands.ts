// The extension's own commands (the server's routerls.run / report / setStrategy are registered by
// the language client under their own names, so these use other ids).
import * as vscode from "vscode";
import { LanguageClient } from "vscode-languageclient/node";
import { STRATEGIES, TIERS } from "./options";
import { executeServerCommand } from "./server";

export const RUN_WITH_TIER = "routerls.runWithTier";
export const PICK_STRATEGY = "routerls.pickStrategy";
export const RESTART = "routerls.restartServer";

interface RunArgs { action: string; uri: string; range: unknown; version: number | null; tier?: string; instruction?: string }

/** Pick one of the routerls actions offered at the selection, a tier, and an optional instruction. */
export async function runWithTier(client: LanguageClient | undefined): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!client || !editor) {
    void vscode.window.showWarningMessage("routerls: open a file (and start the server) first");
    return;
  }
  const offered = (await vscode.commands.executeCommand<(vscode.CodeAction | vscode.Command)[]>(
    "vscode.executeCodeActionProvider", editor.document.uri, editor.selection)) ?? [];
  const ours = offered
    .map((a) => ("command" in a && typeof a.command === "object" ? a.command : (a as vscode.Command)))
    .filter((c): c is vscode.Command => !!c && c.command === "routerls.run" && !!c.arguments?.length);
  if (!ours.length) {
    void vscode.window.showInformationMessage("routerls: no AI action applies here");
    return;
  }
  const action = await vscode.window.showQuickPick(ours.map((c) => ({ label: c.title, command: c })), { title: "routerls: action" });
  if (!action) return;
  const tier = await vscode.window.showQuickPick([...TIERS], { title: "routerls: tier (pins it: no fallback to other tiers)" });
  if (!tier) return;
  const instruction = await vscode.window.showInputBox({ title: "routerls: instruction (optional; @tags work too)" });
  if (instruction === undefined) return;
  const args: RunArgs = { ...(action.command.arguments![0] as RunArgs), tier };
  if (instruction) args.instruction = instruction;
  await executeServerCommand(client, "routerls.run", [args]);
}

export async function pickStrategy(): Promise<void> {
  const current = vscode.workspace.getConfiguration("routerls").get<string>("strategy");
  const picked = await vscode.window.showQuickPick(STRATEGIES.map((s) => ({ label: s, description: s === current ? "current" : "" })),
    { title: "routerls: routing strategy" });
  if (picked) {
    // the settings watcher sends it to the server
    await vscode.workspace.getConfiguration("routerls").update("strategy", picked.label, vscode.ConfigurationTarget.Global);
  }
}

/** The server shows the report through window/showDocument (rendered by the middleware);
 * a client that could not gets the markdown back and opens it here. */
export async function showReport(client: LanguageClient | undefined, shown: () => boolean): Promise<void> {
  if (!client) return;
  const markdown = await executeServerCommand<string>(client, "routerls.report", [{ by: "model" }]);
  if (!shown() && typeof markdown === "string") {
    const doc = await vscode.workspace.openTextDocument({ language: "markdown", content: markdown });
    await vscode.commands.executeCommand("markdown.showPreview", doc.uri);
  }
}
