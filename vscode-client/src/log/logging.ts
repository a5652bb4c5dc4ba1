// The output channel: the server's window/logMessage and the extension's own lines.
import * as vscode from "vscode";

let channel: vscode.OutputChannel | undefined;

export function outputChannel(): vscode.OutputChannel {
  channel ??= vscode.window.createOutputChannel("routerls");
  return channel;
}

export function log(message: string): void {
  outputChannel().appendLine(`[${new Date().toISOString()}] ${message}`);
}
