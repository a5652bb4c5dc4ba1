// The server's window/workDoneProgress as a notification with a Cancel button. The language
// client's own handling shows it in the status bar (ProgressLocation.Window), where VS Code offers
// no Cancel, so a slow model run could not be stopped from the editor.
import * as vscode from "vscode";
import {
  FeatureState, LanguageClient, StaticFeature, WorkDoneProgress, WorkDoneProgressCancelNotification,
  WorkDoneProgressCreateRequest,
} from "vscode-languageclient/node";

/** Registered after the client's built-in ProgressFeature, so on every (re)start its `initialize`
 * runs later and this handler for `window/workDoneProgress/create` is the one that stays. */
export class CancellableProgress implements StaticFeature {
  constructor(private readonly client: LanguageClient) {}

  fillClientCapabilities(): void {}

  getState(): FeatureState {
    return { kind: "static" };
  }

  initialize(): void {
    this.client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => this.show(token));
  }

  clear(): void {}

  private show(token: string | number): void {
    const client = this.client;
    let ended = false;
    let end = () => { ended = true; };
    let report = (_message?: string) => {};
    const listener = client.onProgress(WorkDoneProgress.type, token, (value) => {
      if (value.kind === "begin") {
        void vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: value.title, cancellable: !!value.cancellable },
          (progress, cancel) => {
            progress.report({ message: value.message });
            report = (message) => progress.report({ message });
            cancel.onCancellationRequested(() => void client.sendNotification(WorkDoneProgressCancelNotification.type, { token }));
            return new Promise<void>((resolve) => (ended ? resolve() : (end = resolve)));
          });
      } else if (value.kind === "report") {
        report(value.message);
      } else {
        listener.dispose();
        end();
      }
    });
  }
}
