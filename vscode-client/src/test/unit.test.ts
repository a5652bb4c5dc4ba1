// Status-bar formatting and settings translation: the pure halves of the extension.
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { needsRestart, resolveServerCommand, toServerSettings } from "../common/options";
import { declaredPolicy, messagePage, STRICT_POLICY, webviewPage } from "../common/dashboardHtml";
import { initialState, nearBudget, onSpend, onStatus, render, StatusNotification, usd } from "../common/statusModel";

const spend = { sessionCostUsd: 0, todayCostUsd: 0.5, monthCostUsd: 3, savedUsd: 0.1, budget: { dailyUsd: 2, monthlyUsd: 20 } };
const status = (over: Partial<StatusNotification>): StatusNotification => ({
  state: "done", action: "fix", task: "fix", tier: "mid", model: "claude-haiku-4-5", reason: "fix → mid",
  inputTokens: 1000, outputTokens: 200, costUsd: 0.002, sessionCostUsd: 0.002, todayCostUsd: 0.502,
  savedUsd: 0.01, latencyMs: 812.4, ...over,
});

test("only the settings the user set reach the server, in the config's snake_case", () => {
  assert.deepEqual(toServerSettings({}), { routerls: {} });
  assert.deepEqual(toServerSettings({
    serverPath: "/x/routerls", strategy: "cost",
    budgets: { dailyUsd: 1.5, monthlyUsd: null, onExceed: "block" }, hover: { explain: true },
  }), { routerls: { strategy: "cost", budgets: { daily_usd: 1.5, on_exceed: "block" }, hover: { explain: true } } });
  assert.deepEqual(toServerSettings({ hover: { explain: false }, budgets: { dailyUsd: 0 } }),
    { routerls: { budgets: { daily_usd: 0 }, hover: { explain: false } } });
});

test("the server command: serverPath, then interpreter, then the selected Python, then PATH", () => {
  assert.deepEqual(resolveServerCommand({ serverPath: "/opt/rl", interpreter: "/py" }, "/sel").command, "/opt/rl");
  assert.deepEqual(resolveServerCommand({ interpreter: "/py" }, "/sel"),
    { command: "/py", args: ["-m", "routerls", "serve"], source: "routerls.interpreter" });
  assert.equal(resolveServerCommand({}, "/sel").command, "/sel");
  assert.deepEqual(resolveServerCommand({}), { command: "routerls", args: ["serve"], source: "PATH" });
  assert.equal(needsRestart({ strategy: "cost" }, { strategy: "quality" }), false);
  assert.equal(needsRestart({ interpreter: "/a" }, { interpreter: "/b" }), true);
});

test("money reads in cents below a dollar and never rounds a small run to zero", () => {
  assert.equal(usd(0), "$0.0000");
  assert.equal(usd(0.00042), "$0.0004");
  assert.equal(usd(0.0123), "$0.0123");
  assert.equal(usd(1.234), "$1.23");
  assert.equal(usd(0.99996), "$1.00"); // as routerls/money.py: the places follow the rounded value
  assert.equal(usd(0.995), "$0.9950");
  assert.equal(usd(-0.003), "-$0.0030");
  assert.equal(usd(-0.00001), "$0.0000");
  assert.equal(usd(undefined), "$0.0000");
});

test("at start-up the item shows today's and the session's spend from routerls/spend", () => {
  const view = render(onSpend(initialState, spend));
  assert.equal(view.text, "$(hubot) $0.5000 today · $0.0000 session");
  assert.equal(view.alarm, "none");
  assert.match(view.tooltip, /this month \$3\.00/);
  assert.match(view.tooltip, /budget \$2\.00\/day, \$20\.00\/month/);
});

test("a running model spins with its name, then the spend moves on done", () => {
  let s = onSpend(initialState, spend);
  s = onStatus(s, status({ state: "running", costUsd: 0, sessionCostUsd: 0, todayCostUsd: 0.5 }));
  assert.equal(render(s).text, "$(sync~spin) claude-haiku-4-5 · $0.5000 today");
  assert.match(render(s).tooltip, /running fix on mid · claude-haiku-4-5/);
  s = onStatus(s, status({}));
  const view = render(s);
  assert.equal(view.text, "$(hubot) $0.5020 today · $0.0020 session");
  assert.match(view.tooltip, /last: fix on mid · claude-haiku-4-5, 1000 in \/ 200 out, \$0\.0020, 812 ms/);
  assert.ok(Math.abs((s.monthUsd ?? 0) - 3.002) < 1e-9);
});

test("red when a budget is nearly spent; amber after a failed run", () => {
  const near = onStatus(onSpend(initialState, spend), status({ todayCostUsd: 1.7 }));
  assert.equal(nearBudget(near), "daily");
  assert.equal(render(near).alarm, "error");
  assert.match(render(near).text, /^\$\(warning\) \$1\.70 today/);
  const failed = onStatus(onSpend(initialState, spend), status({ state: "error", message: "every model failed" }));
  assert.equal(render(failed).alarm, "warning");
  assert.match(render(failed).tooltip, /error: every model failed/);
  const monthly = onSpend(initialState, { ...spend, monthCostUsd: 19 });
  assert.equal(nearBudget(monthly), "monthly");
});

test("workspace-level settings travel apart from the user's, with VS Code's workspace trust", () => {
  assert.deepEqual(toServerSettings({ strategy: "cost", workspace: { strategy: "quality", hover: {} }, workspaceTrusted: false }),
    { routerls: { strategy: "cost" }, workspaceSettings: { strategy: "quality" }, workspaceTrusted: false });
  assert.deepEqual(toServerSettings({ workspace: {} }), { routerls: {} });
  assert.equal(needsRestart({ workspaceTrusted: false }, { workspaceTrusted: true }), true);
});

test("the dashboard page keeps the server's strict policy; a page without one gets the strictest", () => {
  const served = `<!doctype html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'nonce-abc'; img-src data:; script-src 'none'"><style nonce="abc"></style></head><body></body></html>`;
  assert.equal(webviewPage(served), served);
  const bare = "<html><head><title>x</title></head><body><script>alert(1)</script></body></html>";
  assert.equal(declaredPolicy(webviewPage(bare)), STRICT_POLICY);
  const loose = served.replace("script-src 'none'", "script-src *");
  assert.equal(declaredPolicy(webviewPage(loose)), STRICT_POLICY);
  assert.equal(declaredPolicy(messagePage("a <b>")), STRICT_POLICY);
  assert.match(messagePage("a <b>"), /a &lt;b&gt;/);
});
