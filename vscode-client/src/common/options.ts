// Settings → what the server gets. Pure (no `vscode` import) so unit tests and the end-to-end
// test use exactly the code the extension runs.

export const STRATEGIES = ["cost", "balanced", "quality"] as const;
export type Strategy = (typeof STRATEGIES)[number];
export const TIERS = ["local", "cheap", "mid", "frontier"] as const;

/** The `routerls.*` settings; a key is present only when the user set it, so the server's own
 * config layers (user file, `.routerls.yaml`, `ROUTERLS_CONFIG`) keep their say otherwise. */
export interface RouterlsSettings {
  serverPath?: string;
  interpreter?: string;
  strategy?: Strategy;
  budgets?: { dailyUsd?: number | null; monthlyUsd?: number | null; onExceed?: string | null };
  hover?: { explain?: boolean };
  /** The values set in the workspace's (or folder's) settings.json: they come with the code,
   * so the server treats them as a workspace layer (nothing there may run a program or move a key). */
  workspace?: ConfigSettings;
  /** VS Code's Workspace Trust; false (Restricted Mode): the server never offers its own trust. */
  workspaceTrusted?: boolean;
}

/** The settings that are routerls config (not how to start the server). */
export type ConfigSettings = Pick<RouterlsSettings, "strategy" | "budgets" | "hover">;

/** The server's config section (snake_case, as in `.routerls.yaml`), wrapped as `{routerls: …}`,
 * with the workspace-level values apart (`workspaceSettings`) and VS Code's `workspaceTrusted`:
 * sent as `initializationOptions` and as `workspace/didChangeConfiguration` settings. */
export function toServerSettings(s: RouterlsSettings): ServerSettings {
  const out: ServerSettings = { routerls: configSection(s) };
  const workspace = s.workspace ? configSection(s.workspace) : {};
  if (Object.keys(workspace).length) out.workspaceSettings = workspace;
  if (typeof s.workspaceTrusted === "boolean") out.workspaceTrusted = s.workspaceTrusted;
  return out;
}

/** What the server reads: the user's section, the workspace's part beside it, and VS Code's trust. */
export interface ServerSettings {
  routerls: Record<string, unknown>;
  workspaceSettings?: Record<string, unknown>;
  workspaceTrusted?: boolean;
}

function configSection(s: ConfigSettings): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (s.strategy) out.strategy = s.strategy;
  const budgets: Record<string, unknown> = {};
  if (isNumber(s.budgets?.dailyUsd)) budgets.daily_usd = s.budgets!.dailyUsd;
  if (isNumber(s.budgets?.monthlyUsd)) budgets.monthly_usd = s.budgets!.monthlyUsd;
  if (s.budgets?.onExceed) budgets.on_exceed = s.budgets.onExceed;
  if (Object.keys(budgets).length) out.budgets = budgets;
  if (typeof s.hover?.explain === "boolean") out.hover = { explain: s.hover.explain };
  return out;
}

function isNumber(x: unknown): x is number {
  return typeof x === "number" && Number.isFinite(x);
}

export interface ServerCommand {
  command: string;
  args: string[];
  /** How it was found, for the output channel. */
  source: string;
}

/** `routerls.serverPath`, else `python -m routerls` with `routerls.interpreter`, else the
 * interpreter the Python extension has selected, else `routerls` on PATH. */
export function resolveServerCommand(s: RouterlsSettings, selectedPython?: string): ServerCommand {
  if (s.serverPath) return { command: s.serverPath, args: ["serve"], source: "routerls.serverPath" };
  if (s.interpreter) return { command: s.interpreter, args: ["-m", "routerls", "serve"], source: "routerls.interpreter" };
  if (selectedPython) return { command: selectedPython, args: ["-m", "routerls", "serve"], source: "the selected Python interpreter" };
  return { command: "routerls", args: ["serve"], source: "PATH" };
}

/** Whether a change to these settings needs a new server process (the rest go on the wire). */
export function needsRestart(before: RouterlsSettings, after: RouterlsSettings): boolean {
  return before.serverPath !== after.serverPath || before.interpreter !== after.interpreter
    || before.workspaceTrusted !== after.workspaceTrusted;
}
