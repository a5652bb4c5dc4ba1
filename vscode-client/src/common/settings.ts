// Reads and watches the `routerls.*` settings.
import * as vscode from "vscode";
import { RouterlsSettings, Strategy } from "./options";

/** Only the values the user set (any scope), so unset ones leave the server's config alone. */
export function readSettings(scope?: vscode.ConfigurationScope): RouterlsSettings {
  const config = vscode.workspace.getConfiguration("routerls", scope);
  const get = <T>(key: string): T | undefined => {
    const v = config.inspect<T>(key);
    return v?.workspaceFolderValue ?? v?.workspaceValue ?? v?.globalValue;
  };
  return {
    serverPath: get<string>("serverPath") || undefined,
    interpreter: get<string>("interpreter") || undefined,
    strategy: get<Strategy>("strategy"),
    budgets: {
      dailyUsd: get<number | null>("budgets.dailyUsd"),
      monthlyUsd: get<number | null>("budgets.monthlyUsd"),
      onExceed: get<string | null>("budgets.onExceed"),
    },
    hover: { explain: get<boolean>("hover.explain") },
  };
}

export function onSettingsChanged(listener: () => void): vscode.Disposable {
  return vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration("routerls")) listener();
  });
}

/** The interpreter the Python extension has selected, if it is installed. */
export async function selectedPython(): Promise<string | undefined> {
  const python = vscode.extensions.getExtension("ms-python.python");
  if (!python) return undefined;
  try {
    const api = python.isActive ? python.exports : await python.activate();
    const env = api?.environments?.getActiveEnvironmentPath?.();
    return typeof env?.path === "string" && env.path ? env.path : undefined;
  } catch {
    return undefined;
  }
}
