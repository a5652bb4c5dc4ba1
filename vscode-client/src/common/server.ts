// Builds and (re)starts the LanguageClient for `routerls serve`.
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification, ExecuteCommandRequest, LanguageClient, LanguageClientOptions,
  ServerOptions, TransportKind,
} from "vscode-languageclient/node";
import { log, outputChannel } from "../log/logging";
import { CancellableProgress } from "./progress";
import { RouterlsSettings, resolveServerCommand, toServerSettings } from "./options";
import { selectedPython } from "./settings";
import { SpendStatusBar } from "./statusBar";
import { SpendResult, StatusNotification } from "./statusModel";

export const STATUS = "$/routerls/status";
export const SPEND = "routerls/spend";

/** When a markdown result was last shown through window/showDocument (ms since the epoch). */
export let markdownShownAt = 0;

export async function startClient(settings: RouterlsSettings, bar: SpendStatusBar): Promise<LanguageClient> {
  // in Restricted Mode, not the Python extension's pick either: it may be the workspace's own venv
  const cmd = resolveServerCommand(settings, settings.workspaceTrusted === false ? undefined : await selectedPython());
  log(`starting ${cmd.command} ${cmd.args.join(" ")} (from ${cmd.source})`);
  const serverOptions: ServerOptions = { command: cmd.command, args: cmd.args, transport: TransportKind.stdio };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    outputChannel: outputChannel(),
    initializationOptions: toServerSettings(settings),
    middleware: {
      window: {
        // explanations and the spend report arrive as .md files: show them rendered
        showDocument: async (params, next) => {
          if (params.uri.endsWith(".md")) {
            await vscode.commands.executeCommand("markdown.showPreview", vscode.Uri.parse(params.uri));
            markdownShownAt = Date.now();
            return { success: true };
          }
          const shown = await next(params, new vscode.CancellationTokenSource().token);
          return "success" in shown ? shown : { success: false };
        },
      },
    },
  };
  const client = new LanguageClient("routerls", "routerls", serverOptions, clientOptions);
  client.onNotification(STATUS, (n: StatusNotification) => bar.status(n));
  client.registerFeature(new CancellableProgress(client));
  await client.start();
  try {
    bar.spend(await client.sendRequest<SpendResult>(SPEND, {}));
  } catch (e) {
    log(`routerls/spend failed: ${e}`);
  }
  return client;
}

export function sendSettings(client: LanguageClient, settings: RouterlsSettings): Promise<void> {
  return client.sendNotification(DidChangeConfigurationNotification.type, { settings: toServerSettings(settings) });
}

export function executeServerCommand<T>(client: LanguageClient, command: string, args: unknown[]): Promise<T> {
  return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }) as Promise<T>;
}
