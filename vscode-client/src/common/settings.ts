// Reads and watches the `routerls.*` settings.
import * as vscode from "vscode";
import { ConfigSettings, RouterlsSettings, Strategy } from "./options";

/** Only the values the user set, the user's own (global) apart from the workspace's: the
 * server gives workspace values no say over what runs or where keys go. In Restricted Mode the
 * settings that start a program (`restrictedConfigurations` in package.json) are the user's only. */
export function readSettings(scope?: vscode.ConfigurationScope): RouterlsSettings {
  const config = vscode.workspace.getConfiguration("routerls", scope);
  const trusted = vscode.workspace.isTrusted;
  const user = <T>(key: string): T | undefined => config.inspect<T>(key)?.globalValue;
  const workspace = <T>(key: string): T | undefined => {
    const v = config.inspect<T>(key);
    return v?.workspaceFolderValue ?? v?.workspaceValue;
  };
  const program = (key: string): string | undefined =>
    (trusted ? workspace<string>(key) || user<string>(key) : user<string>(key)) || undefined;
  const section = (get: <T>(key: string) => T | undefined): ConfigSettings => ({
    strategy: get<Strategy>("strategy"),
    budgets: {
      dailyUsd: get<number | null>("budgets.dailyUsd"),
      monthlyUsd: get<number | null>("budgets.monthlyUsd"),
      onExceed: get<string | null>("budgets.onExceed"),
    },
    hover: { explain: get<boolean>("hover.explain") },
  });
  return {
    serverPath: program("serverPath"),
    interpreter: program("interpreter"),
    ...section(user),
    workspace: section(workspace),
    workspaceTrusted: trusted,
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
