// The status-bar item's state and text. Pure (no `vscode` import): the extension renders it into
// a StatusBarItem, and the end-to-end test feeds it the server's real notifications.

/** `$/routerls/status` (DESIGN.md). */
export interface StatusNotification {
  state: "running" | "done" | "error" | "cancelled";
  action: string;
  task: string;
  tier: string;
  model: string;
  reason: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  sessionCostUsd: number;
  todayCostUsd: number;
  savedUsd: number;
  latencyMs: number;
  message?: string;
}

/** The `routerls/spend` result (DESIGN.md). */
export interface SpendResult {
  sessionCostUsd: number;
  todayCostUsd: number;
  monthCostUsd: number;
  savedUsd: number;
  budget: { dailyUsd: number | null; monthlyUsd: number | null };
}

export interface StatusState {
  sessionUsd: number;
  todayUsd: number;
  monthUsd: number | null; // only `routerls/spend` carries it
  savedUsd: number; // saved this session, summed from the runs
  budget: { dailyUsd: number | null; monthlyUsd: number | null };
  running: { action: string; tier: string; model: string } | null;
  last: StatusNotification | null;
}

export const initialState: StatusState = {
  sessionUsd: 0, todayUsd: 0, monthUsd: null, savedUsd: 0,
  budget: { dailyUsd: null, monthlyUsd: null }, running: null, last: null,
};

/** A budget counts as near once this much of it is spent. */
export const NEAR_BUDGET = 0.8;

export function onSpend(s: StatusState, spend: SpendResult): StatusState {
  return {
    ...s, sessionUsd: spend.sessionCostUsd, todayUsd: spend.todayCostUsd,
    monthUsd: spend.monthCostUsd, savedUsd: spend.savedUsd,
    budget: { dailyUsd: spend.budget?.dailyUsd ?? null, monthlyUsd: spend.budget?.monthlyUsd ?? null },
  };
}

export function onStatus(s: StatusState, n: StatusNotification): StatusState {
  const spent = { sessionUsd: n.sessionCostUsd, todayUsd: n.todayCostUsd };
  if (n.state === "running") {
    return { ...s, ...spent, running: { action: n.action, tier: n.tier, model: n.model } };
  }
  // month spend moves with today's; keep it current without another request
  const monthUsd = s.monthUsd === null ? null : s.monthUsd + Math.max(0, n.todayCostUsd - s.todayUsd);
  return { ...s, ...spent, monthUsd, savedUsd: s.savedUsd + (n.savedUsd || 0), running: null, last: n };
}

/** routerls' one money format (routerls/money.py): `$0.0042` below a dollar, `$1.23` from a
 * dollar up, chosen on the rounded value; `-$0.0030` when negative. */
export function usd(x: number | null | undefined): string {
  const v = typeof x === "number" && Number.isFinite(x) ? x : 0;
  const places = Math.round(Math.abs(v) * 1e4) / 1e4 >= 1 ? 2 : 4;
  const text = Math.abs(v).toFixed(places);
  return `${v < 0 && /[1-9]/.test(text) ? "-" : ""}$${text}`;
}

export function nearBudget(s: StatusState): "daily" | "monthly" | null {
  const { dailyUsd, monthlyUsd } = s.budget;
  if (dailyUsd !== null && dailyUsd > 0 && s.todayUsd >= NEAR_BUDGET * dailyUsd) return "daily";
  if (monthlyUsd !== null && monthlyUsd > 0 && s.monthUsd !== null && s.monthUsd >= NEAR_BUDGET * monthlyUsd) return "monthly";
  return null;
}

export interface StatusView {
  text: string; // with codicons, as a StatusBarItem shows them
  tooltip: string; // markdown
  alarm: "none" | "warning" | "error"; // error: a budget is near; warning: the last run failed
}

export function render(s: StatusState): StatusView {
  const spend = `${usd(s.todayUsd)} today · ${usd(s.sessionUsd)} session`;
  const near = nearBudget(s);
  const lines = [`**routerls** — today ${usd(s.todayUsd)}, this session ${usd(s.sessionUsd)}`];
  if (s.monthUsd !== null) lines.push(`this month ${usd(s.monthUsd)}`);
  if (s.savedUsd > 0) lines.push(`saved ${usd(s.savedUsd)} against always-frontier`);
  if (s.budget.dailyUsd !== null || s.budget.monthlyUsd !== null) {
    lines.push(`budget ${s.budget.dailyUsd !== null ? usd(s.budget.dailyUsd) + "/day" : "-"}, ` +
      `${s.budget.monthlyUsd !== null ? usd(s.budget.monthlyUsd) + "/month" : "-"}`);
  }
  if (near) lines.push(`$(warning) the ${near} budget is nearly spent: runs may move to cheaper tiers`);
  const last = s.last;
  if (last) {
    const what = `${last.action} on ${last.tier || "?"} · ${last.model || "?"}`;
    lines.push(last.state === "done"
      ? `last: ${what}, ${last.inputTokens} in / ${last.outputTokens} out, ${usd(last.costUsd)}, ${Math.round(last.latencyMs)} ms — ${last.reason}`
      : `last: ${what} ${last.state}${last.message ? `: ${last.message}` : ""}`);
  }
  lines.push("click for the spend dashboard");
  if (s.running) {
    return {
      text: `$(sync~spin) ${s.running.model || s.running.tier} · ${usd(s.todayUsd)} today`,
      tooltip: [`running ${s.running.action} on ${s.running.tier} · ${s.running.model}`, ...lines].join("\n\n"),
      alarm: near ? "error" : "none",
    };
  }
  const failed = last !== null && last.state === "error";
  return {
    text: `${near ? "$(warning)" : failed ? "$(error)" : "$(hubot)"} ${spend}`,
    tooltip: lines.join("\n\n"),
    alarm: near ? "error" : failed ? "warning" : "none",
  };
}
