// The spend dashboard in a webview panel: the server renders the page (`routerls.dashboard`),
// the panel shows it with scripts off and no local resources, and reloads it when a run finishes.
import * as vscode from "vscode";
import { LanguageClient } from "vscode-languageclient/node";
import { log } from "../log/logging";
import { messagePage, webviewPage } from "./dashboardHtml";
import { executeServerCommand } from "./server";

export { SHOW_DASHBOARD } from "./statusBar";
export const DASHBOARD = "routerls.dashboard";

export class Dashboard implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private loading: Promise<void> = Promise.resolve();

  constructor(private readonly client: () => LanguageClient | undefined) {}

  async show(): Promise<void> {
    if (this.panel) {
      this.panel.reveal();
    } else {
      this.panel = vscode.window.createWebviewPanel("routerls.dashboard", "routerls spend", vscode.ViewColumn.Active,
        { enableScripts: false, enableCommandUris: false, localResourceRoots: [], enableFindWidget: true });
      this.panel.onDidDispose(() => { this.panel = undefined; });
    }
    await this.refresh();
  }

  /** Reload the page if the panel is open; one load at a time, the latest wins. */
  refresh(): Promise<void> {
    if (!this.panel) return Promise.resolve();
    this.loading = this.loading.then(() => this.load(), () => this.load());
    return this.loading;
  }

  private async load(): Promise<void> {
    const panel = this.panel;
    if (!panel) return;
    const client = this.client();
    let html: string;
    if (!client) {
      html = messagePage("routerls: the server is not running");
    } else {
      try {
        const page = await executeServerCommand<string>(client, DASHBOARD, [{ by: "day" }]);
        html = typeof page === "string" ? webviewPage(page) : messagePage("routerls: the server sent no dashboard");
      } catch (e) {
        log(`routerls.dashboard failed: ${e}`);
        html = messagePage(`routerls: the dashboard could not be read (${e})`);
      }
    }
    if (this.panel === panel) panel.webview.html = html;
  }

  dispose(): void {
    this.panel?.dispose();
  }
}
