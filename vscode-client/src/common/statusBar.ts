// The status-bar item: spend at start-up (`routerls/spend`), then every `$/routerls/status`.
import * as vscode from "vscode";
import { StatusState, initialState, onSpend, onStatus, render, SpendResult, StatusNotification } from "./statusModel";

export const SHOW_REPORT = "routerls.showReport";
export const SHOW_DASHBOARD = "routerls.showDashboard";

export class SpendStatusBar implements vscode.Disposable {
  private state: StatusState = initialState;
  private readonly item = vscode.window.createStatusBarItem("routerls.spend", vscode.StatusBarAlignment.Right, 100);
  private readonly finished = new vscode.EventEmitter<StatusNotification>();
  /** A run ended (done, error or cancelled): spend may have moved. */
  readonly onRunFinished = this.finished.event;

  constructor() {
    this.item.name = "routerls spend";
    this.item.command = SHOW_DASHBOARD;
    this.show();
  }

  spend(result: SpendResult): void {
    this.state = onSpend(this.state, result);
    this.show();
  }

  status(n: StatusNotification): void {
    this.state = onStatus(this.state, n);
    this.show();
    if (n.state !== "running") this.finished.fire(n);
  }

  stopped(): void {
    this.state = { ...this.state, running: null };
    this.item.text = "$(debug-disconnect) routerls";
    this.item.tooltip = "routerls server is not running: run 'routerls: Restart server'";
  }

  private show(): void {
    const view = render(this.state);
    this.item.text = view.text;
    this.item.tooltip = new vscode.MarkdownString(view.tooltip, true);
    this.item.backgroundColor = view.alarm === "none" ? undefined
      : new vscode.ThemeColor(view.alarm === "error" ? "statusBarItem.errorBackground" : "statusBarItem.warningBackground");
    this.item.show();
  }

  dispose(): void {
    this.finished.dispose();
    this.item.dispose();
  }
}
