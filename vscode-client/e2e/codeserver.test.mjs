// The extension inside real VS Code: code-server (VS Code in the browser) with the packaged .vsix,
// driven by Playwright in Debian's headless Chromium. Every assertion reads what a user sees on
// the page: the status bar, the lightbulb and its menu, the editor's text, notifications, the
// markdown preview and the hover. Models are the test suite's scripted server (tests/support/modelserver.py)
// on loopback, priced in the user's config file (a workspace `.routerls.yaml` may not point a tier
// at a server: see README, Workspace trust), so each spend shown is known to the cent.
//
// Run through ../scripts/e2e-code-server.sh, which installs and builds what this needs. Environment:
// ROUTERLS_PYTHON (default ../../.venv/bin/python), ROUTERLS_VSIX (default ../routerls.vsix),
// CHROMIUM (default /usr/bin/chromium), ROUTERLS_E2E_SHOTS (default ../test-results).
import { strict as assert } from "node:assert";
import { spawn, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { after, before, test as nodeTest } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLIENT = path.resolve(HERE, "..");
const REPO = path.resolve(CLIENT, "..");
const PYTHON = process.env.ROUTERLS_PYTHON || path.join(REPO, ".venv", "bin", "python");
const VSIX = process.env.ROUTERLS_VSIX || path.join(CLIENT, "routerls.vsix");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SHOTS = process.env.ROUTERLS_E2E_SHOTS || path.join(CLIENT, "test-results");
const CODE_SERVER = path.join(HERE, "node_modules", "code-server", "out", "node", "entry.js");

const SOURCE = "import math\n\n\ndef area(r):\n    return math.pi * r * r\n";
const FUNCTION = "def area(r):\n    return math.pi * r * r\n";
const DOCUMENTED = 'def area(r):\n    """The area of a circle of radius r."""\n    return math.pi * r * r\n';
const REFACTORED = "def area(r):\n    return math.pi * r**2\n";
const BROKEN_JSON = '{\n  "name": "circle",\n  "radius": 2,\n}\n';
const FIXED_JSON = '{\n  "name": "circle",\n  "radius": 2\n}\n';
const EXPLANATION = "`area` returns the area of a circle of radius `r`, as π·r².";
const HOVER_EXPLANATION = "`area` takes a radius and gives back the circle's area.";
const SEED_USD = 0.012; // spent earlier today, before this session: the status bar shows it at start

const CONFIG = (url) => `\
tiers:
  local:    {models: [{model: openai/local-coder, api_base: "${url}", price: {input_per_mtok: 0.0, output_per_mtok: 0.0}}]}
  cheap:    {models: [{model: openai/rl-cheap, api_base: "${url}", api_key_env: ROUTERLS_TEST_KEY, price: {input_per_mtok: 1.0, output_per_mtok: 4.0}}]}
  mid:      {models: [{model: openai/rl-mid, api_base: "${url}", api_key_env: ROUTERLS_TEST_KEY, price: {input_per_mtok: 2.5, output_per_mtok: 10.0}}]}
  frontier: {models: [{model: openai/rl-frontier, api_base: "${url}", api_key_env: ROUTERLS_TEST_KEY, price: {input_per_mtok: 10.0, output_per_mtok: 30.0}}]}
gateway: {timeout_s: 30, retries: 0, backoff_s: 0}
`;

// what a clean workbench needs (no welcome page, no chat, no gallery, no git), and the extension's
// own setting: the Python that has routerls (the extension host only has code-server's PATH)
const SETTINGS = {
  "workbench.startupEditor": "none",
  "chat.disableAIFeatures": true,
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "extensions.ignoreRecommendations": true,
  "git.enabled": false,
  "workbench.tips.enabled": false,
  "editor.minimap.enabled": false,
  "editor.quickSuggestions": { other: false, comments: false, strings: false },
  "editor.hover.delay": 200,
  "routerls.interpreter": PYTHON,
  // on from the start: the spend checked after each test proves no stray hover ran a model
  "routerls.hover.explain": true,
};

const fence = (code, lang = "python") => "```" + lang + "\n" + code + "```";
const usd = (x) => `$${x.toFixed(4)}`;
const cost = (tokensIn, tokensOut, inPerM, outPerM) => (tokensIn * inPerM + tokensOut * outPerM) / 1e6;

let tmp, ws, dataDir, modelsUrl, page, context;
const children = [];
let spent = { today: SEED_USD, session: 0 };

// --- processes -----------------------------------------------------------------------------

function start(command, args, options) {
  const child = spawn(command, args, { detached: true, ...options });
  children.push(child);
  return child;
}

function stopAll() {
  for (const child of children.reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(-child.pid, "SIGTERM"); // the whole group: code-server's extension host, routerls
    } catch {
      /* gone already */
    }
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitHealthy(url, child, log, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`code-server exited ${child.exitCode}:\n${fs.readFileSync(log, "utf8")}`);
    try {
      if ((await fetch(new URL("/healthz", url))).ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`code-server did not answer /healthz in ${timeoutMs} ms:\n${fs.readFileSync(log, "utf8")}`);
}

async function script(body) {
  const res = await fetch(new URL("/_script", modelsUrl), {
    method: "POST", body: JSON.stringify({ reset: true, ...body }), headers: { "Content-Type": "application/json" },
  });
  assert.equal(res.status, 200);
}

// --- what the user sees --------------------------------------------------------------------

const statusItem = () => page.locator(".statusbar-item").filter({ hasText: / today/ }).first();

async function statusText() {
  return (await statusItem().innerText()).replace(/\s+/g, " ").trim();
}

/** The text in the editor group's code editor, line by line as Monaco renders it (not the chat input). */
async function editorText() {
  return page.locator(".part.editor .editor-instance .monaco-editor .view-lines").first().evaluate((el) => {
    const lines = [...el.querySelectorAll(".view-line")]
      .map((l) => ({ top: parseFloat(l.style.top) || 0, text: l.textContent.replace(/\u00a0/g, " ") }))
      .sort((a, b) => a.top - b.top);
    return lines.map((l) => l.text).join("\n");
  });
}

async function expectEditorText(expected, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  let got;
  while (Date.now() < deadline) {
    got = await editorText();
    if (got === expected) return;
    await page.waitForTimeout(100);
  }
  assert.equal(got, expected, "the editor's text");
}

async function expectStatus(pattern, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let got;
  while (Date.now() < deadline) {
    got = await statusText().catch(() => "");
    if (typeof pattern === "string" ? got === pattern : pattern.test(got)) return got;
    await page.waitForTimeout(50);
  }
  assert.fail(`status bar: expected ${pattern}, got ${JSON.stringify(got)}`);
}

const idle = () => `${usd(spent.today)} today · ${usd(spent.session)} session`;

async function shot(name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

async function openFile(name) {
  await page.locator(".explorer-folders-view .monaco-list-row").filter({ hasText: name }).first().click();
  await page.locator(".part.editor .tab.active").filter({ hasText: name }).waitFor();
  await clickIntoEditor();
}

/** A click into the text, below its last line (no word there for a hover to explain). */
async function clickIntoEditor() {
  await page.locator(".part.editor .editor-instance .monaco-editor .overflow-guard").first()
    .click({ position: { x: 600, y: 500 } });
}

/** The page as it is, for a step that cannot go on: `<name>.png` and its DOM as `<name>.html`. */
async function keepPage(name) {
  fs.writeFileSync(path.join(SHOTS, `${name}.html`), await page.content());
  await shot(name);
}

/** Select from line `from` (1-based) to the end of the document, and see it selected: keys sent
 * while something else has the keyboard (a notification, the explorer) select nothing, which is
 * how a fresh-clone CI run once met a docstring step with no selection and so no menu. */
async function selectFromLine(from) {
  const selection = page.locator('[id="status.editor.selection"]');
  for (let attempt = 0; attempt < 3; attempt++) {
    if (attempt) await clickIntoEditor();
    await page.keyboard.press("Control+Home");
    for (let i = 1; i < from; i++) await page.keyboard.press("ArrowDown");
    await page.keyboard.press("Home");
    await page.keyboard.press("Control+Shift+End");
    const selected = await selection.filter({ hasText: "selected" }).waitFor({ timeout: 3000 })
      .then(() => true, () => false);
    if (selected) return;
  }
  await shot("no-selection");
  assert.fail(`nothing selected from line ${from}: ${await selection.innerText().catch(() => "no selection status")}`);
}

/** Select from line `from` to the end, Ctrl+. and the titles of the actions the menu lists. */
async function openActionMenu(from) {
  await selectFromLine(from);
  const bulb = page.locator('.part.editor .lightBulbWidget, .part.editor [class*="codicon-gutter-lightbulb"]');
  await bulb.first().waitFor({ state: "visible", timeout: 20000 }).catch(async (e) => {
    await keepPage("no-lightbulb");
    throw e;
  });
  const menu = page.locator(".action-widget");
  // Ctrl+. goes to whatever has the keyboard: a notification that just closed (the previous
  // run's progress) can leave it nowhere, so give the editor the focus and ask again; the last
  // try clicks the light bulb, which opens the same menu wherever the keyboard is. Between tries
  // Escape closes what the last one left half open, and, in the editor, also drops the selection
  // (a fresh-clone CI run then met a menu without Fix, for a cursor on the last line): select again
  const tries = [
    [15000, () => page.keyboard.press("Control+.")],
    [15000, () => page.keyboard.press("Control+.")],
    [20000, () => bulb.first().click()],
  ];
  for (const [i, [wait, ask]] of tries.entries()) {
    if (i) {
      await page.keyboard.press("Escape");
      await selectFromLine(from);
    }
    await page.locator(".part.editor .monaco-editor.focused, .part.editor .monaco-editor textarea").first().focus();
    await ask();
    const shown = await menu.locator(".monaco-list-row").first().waitFor({ state: "visible", timeout: wait })
      .then(() => true, () => false);
    if (shown) break;
  }
  await menu.locator(".monaco-list-row").first().waitFor({ state: "visible", timeout: 1000 }).catch(async (e) => {
    await keepPage("no-action-menu");
    throw e;
  });
  return (await menu.locator(".monaco-list-row").allInnerTexts()).map((t) => t.replace(/\s+/g, " ").trim());
}

/** Pick a menu entry with the keyboard, as the mouse would leave a hover over the code behind it. */
async function choose(title) {
  const focused = page.locator(".action-widget .monaco-list-row.focused");
  let got = "";
  // press Enter only on a row that has held the focus for 300 ms (a menu redrawn under the key
  // might send it elsewhere; once suspected in CI, not seen: the run's screenshot showed otherwise)
  for (let round = 0; round < 3 && !got.includes(title); round++) {
    for (let i = 0; i < 20 && !(await focused.innerText().catch(() => "")).includes(title); i++) {
      await page.keyboard.press("ArrowDown");
    }
    await page.waitForTimeout(300);
    got = await focused.innerText().catch((e) => `(no focused row: ${e.message.split("\n")[0]})`);
  }
  if (!got.includes(title)) {
    const rows = await page.locator(".action-widget .monaco-list-row").allInnerTexts().catch(() => []);
    await shot(`no-action-${title.replace(/\W+/g, "-")}`).catch(() => {});
    await page.keyboard.press("Escape");
    assert.fail(`${title} is not in the menu: focused ${JSON.stringify(got)}, rows ${JSON.stringify(rows)}`);
  }
  await page.keyboard.press("Enter");
  await page.locator(".action-widget .monaco-list-row").first().waitFor({ state: "hidden", timeout: 5000 });
}

// --- set-up --------------------------------------------------------------------------------

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  for (const f of fs.readdirSync(SHOTS)) if (f.endsWith(".png")) fs.rmSync(path.join(SHOTS, f));
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "routerls-code-server-"));
  const dirs = Object.fromEntries(["ws", "data", "home", "xdg", "user-data", "extensions", "profile"]
    .map((d) => [d, path.join(tmp, d)]));
  Object.values(dirs).forEach((d) => fs.mkdirSync(d, { recursive: true }));
  ws = dirs.ws;
  dataDir = dirs.data;

  const models = start(PYTHON, [path.join(REPO, "tests", "support", "modelserver.py"), "--port", "0"],
    { stdio: ["ignore", "pipe", "inherit"] });
  modelsUrl = await new Promise((resolve, reject) => {
    createInterface({ input: models.stdout }).once("line", resolve);
    models.once("exit", (code) => reject(new Error(`model server exited ${code}`)));
  });

  fs.mkdirSync(path.join(dirs.xdg, "routerls"), { recursive: true });
  fs.writeFileSync(path.join(dirs.xdg, "routerls", "config.yaml"), CONFIG(modelsUrl));
  fs.writeFileSync(path.join(ws, "area.py"), SOURCE);
  fs.writeFileSync(path.join(ws, "circle.json"), BROKEN_JSON);
  fs.mkdirSync(path.join(dirs["user-data"], "User"), { recursive: true });
  fs.writeFileSync(path.join(dirs["user-data"], "User", "settings.json"), JSON.stringify(SETTINGS, null, 2));
  // an earlier session's spend today, in the ledger the server will read
  execFileSync(PYTHON, ["-c", `
import sys
from pathlib import Path
from routerls.ledger import Ledger, LedgerRow
with Ledger(Path(sys.argv[1]) / "ledger.sqlite3") as ledger:
    ledger.record([LedgerRow(request_id="earlier", session="earlier", action="fix", task="fix", tier="mid",
                             model="rl-mid", input_tokens=2000, output_tokens=700, cost_usd=${SEED_USD},
                             counterfactual_usd=0.041)])
`, dirs.data], { stdio: "inherit" });

  const env = {
    ...process.env, EXTENSIONS_GALLERY: "{}", HOME: dirs.home, XDG_CONFIG_HOME: dirs.xdg,
    XDG_DATA_HOME: path.join(dirs.home, ".local", "share"), ROUTERLS_DATA_DIR: dirs.data,
    LITELLM_LOCAL_MODEL_COST_MAP: "True", ROUTERLS_TEST_KEY: "sk-test-code-server",
  };
  delete env.ROUTERLS_CONFIG;
  const dirArgs = ["--user-data-dir", dirs["user-data"], "--extensions-dir", dirs.extensions];
  execFileSync(process.execPath, [CODE_SERVER, ...dirArgs, "--install-extension", VSIX, "--force"],
    { env, stdio: ["ignore", "ignore", "inherit"], timeout: 120000 });

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const log = path.join(tmp, "code-server.log");
  const out = fs.openSync(log, "w");
  const server = start(process.execPath, [CODE_SERVER, "--bind-addr", `127.0.0.1:${port}`, "--auth", "none",
    "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
    "--disable-getting-started-override", ...dirArgs, ws], { env, stdio: ["ignore", out, out] });
  await waitHealthy(url, server, log);

  context = await chromium.launchPersistentContext(dirs.profile, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1280, height: 800 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
  page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(20000);
  await page.goto(`${url}/?folder=${encodeURIComponent(ws)}`);
  await page.locator(".monaco-workbench").waitFor({ timeout: 60000 });
});

after(async () => {
  if (page && !process.env.ROUTERLS_E2E_KEEP) await shot("zz-last").catch(() => {});
  await context?.close().catch(() => {});
  stopAll();
  // the server's log beside the screenshots: what it was asked, and when
  if (dataDir) {
    try {
      fs.copyFileSync(path.join(dataDir, "routerls.log"), path.join(SHOTS, "routerls.log"));
    } catch {
      /* no log: the server never started */
    }
  }
  if (tmp && !process.env.ROUTERLS_E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
});

// --- the tests, in the order a user would meet them -----------------------------------------

/** A test that leaves a screenshot of the page as it failed (`FAILED-<first words>.png`): the
 * steps share one page, so the picture of the first failure tells what the later ones met. */
function test(name, fn) {
  return nodeTest(name, async (t) => {
    try {
      await fn(t);
    } catch (e) {
      if (page) await shot(`FAILED-${name.split(/\W+/).slice(0, 4).join("-")}`).catch(() => {});
      throw e;
    }
  });
}

test("the status bar shows today's spend at start", async () => {
  await openFile("area.py");
  assert.equal(await expectStatus(idle(), 60000), idle());
  await shot("01-spend-at-start");
});

test("Ctrl+. lists the actions with tier and model; Fix runs on mid, the status bar shows it, the fix lands", async () => {
  const tokensIn = 1000, tokensOut = 500;
  await script({ rules: [{ contains: "Fix the problems", reply: { text: fence(FIXED_JSON, "json"), chunks: 8, chunk_delay: 0.3, prompt_tokens: tokensIn, completion_tokens: tokensOut } }] });
  await openFile("circle.json");
  await page.locator(".part.editor .squiggly-error").first().waitFor({ state: "attached", timeout: 30000 });
  const titles = await openActionMenu(1);
  for (const t of ["AI: Fix (mid · rl-mid)", "AI: Explain (cheap · rl-cheap)", "AI: Refactor (mid · rl-mid)",
    "AI: Add docstring (local · local-coder)"]) {
    assert.ok(titles.some((x) => x.includes(t)), `${t} in the menu: ${JSON.stringify(titles)}`);
  }
  await shot("02-action-menu");
  await choose("AI: Fix (mid · rl-mid)");
  assert.match(await expectStatus(/rl-mid · \$0\.0120 today/), /rl-mid · \$0\.0120 today/);
  await shot("03-running");
  spent = { today: spent.today + cost(tokensIn, tokensOut, 2.5, 10), session: spent.session + cost(tokensIn, tokensOut, 2.5, 10) };
  await expectStatus(idle());
  await expectEditorText(FIXED_JSON);
  await shot("04-fix-applied");
});

test("Add docstring inserts the docstring", async () => {
  await script({ rules: [{ contains: "docstrings", reply: { text: fence(DOCUMENTED), prompt_tokens: 300, completion_tokens: 30 } }] });
  await openFile("area.py");
  await openActionMenu(4);
  await choose("AI: Add docstring (local · local-coder)");
  await expectEditorText(SOURCE.replace(FUNCTION, DOCUMENTED));
  await expectStatus(idle()); // the local tier costs nothing
  await shot("05-docstring");
  await page.keyboard.press("Control+Z");
  await expectEditorText(SOURCE);
});

test("Explain opens its markdown rendered beside the code", async (t) => {
  const tokensIn = 400, tokensOut = 50;
  await script({ rules: [{ contains: "Explain what the selected code", reply: { text: EXPLANATION, prompt_tokens: tokensIn, completion_tokens: tokensOut } }] });
  await openActionMenu(4);
  await choose("AI: Explain (cheap · rl-cheap)");
  const tab = page.locator(".part.editor .tab").filter({ hasText: /Preview explain-/ });
  // In fresh-clone CI runs (3 of 4 on 2026-12-03; never when run alone) the Explain chosen right
  // after the docstring's undo did nothing: the menu closed, the text and status stayed as they
  // were, and (the one run whose server log was kept) routerls.run never reached the server. A
  // user would choose it again; so does this, once, and says so in the TAP output.
  if (!(await tab.waitFor({ timeout: 10000 }).then(() => true, () => false)) && (await statusText()) === idle()) {
    t.diagnostic("Explain: the first choice never reached the server (no run, no status); chose it again");
    await shot("04b-explain-chosen-again");
    await openActionMenu(4);
    await choose("AI: Explain (cheap · rl-cheap)");
  }
  spent = { today: spent.today + cost(tokensIn, tokensOut, 1, 4), session: spent.session + cost(tokensIn, tokensOut, 1, 4) };
  await tab.waitFor();
  const preview = page.locator("iframe.webview").last().contentFrame().locator("#active-frame").contentFrame();
  await preview.getByText("returns the area of a circle of radius").waitFor();
  assert.match(await preview.locator("body").innerText(), /area returns the area of a circle of radius r, as π·r²\./);
  await expectStatus(idle());
  await shot("06-explain");
});

/** The dashboard webview's page (the panel renders the server's HTML with scripts off). */
const dashboardFrame = () => page.locator("iframe.webview").last().contentFrame().locator("#active-frame").contentFrame();

/** The dashboard's figure for today's spend and its "today" total, as the page shows them. */
async function dashboardToday() {
  const frame = dashboardFrame();
  const today = new Date();
  const day = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, "0")}-${String(today.getDate()).padStart(2, "0")}`;
  const bar = frame.locator(`svg[data-chart="spend"] g.period[data-period="${day}"]`);
  await bar.waitFor({ state: "attached" });
  return {
    barUsd: Number(await bar.getAttribute("data-usd")),
    tiers: await bar.locator("rect.bar").evaluateAll((rs) => rs.map((r) => r.dataset.tier)),
    todayText: (await frame.locator('[data-total="today"] .value').innerText()).trim(),
    sessionText: (await frame.locator('[data-total="session"] .value').innerText()).trim(),
  };
}

/** The status bar's `$X today · $Y session`, as numbers (null while a model runs). */
const parseStatus = (text) => {
  const m = /\$(\d+\.\d+) today · \$(\d+\.\d+) session/.exec(text);
  return m ? { today: Number(m[1]), session: Number(m[2]) } : null;
};

// The dashboard tests take their figures from the status bar, so each holds on its own
// (`--test-name-pattern "at start|dashboard|Markdown spend report"` runs just these).
test("clicking the status bar opens the spend dashboard: today's bar by tier, the status bar's totals", async () => {
  const status = parseStatus(await expectStatus(/ today · .* session/));
  await statusItem().click();
  await page.locator(".part.editor .tab").filter({ hasText: "routerls spend" }).waitFor();
  const frame = dashboardFrame();
  await frame.locator('svg[data-chart="spend"]').waitFor({ state: "attached" });
  assert.equal(await frame.locator("script").count(), 0);
  const seen = await dashboardToday();
  assert.equal(Math.round(seen.barUsd * 1e4), Math.round(status.today * 1e4), "today's bar, to a hundredth of a cent");
  assert.ok(seen.tiers.includes("mid"), `the seeded mid call in today's bar: ${seen.tiers}`);
  assert.equal(seen.todayText, usd(status.today));
  assert.equal(seen.sessionText, usd(status.session));
  // one row per model: the seeded `rl-mid` and this session's `openai/rl-mid` are one
  const models = await frame.locator('table[data-chart="models"] tr[data-model]').evaluateAll((rs) => rs.map((r) => r.dataset.model));
  assert.ok(models.includes("rl-mid") && !models.some((m) => m.includes("/")), JSON.stringify(models));
  await shot("07-dashboard");
});

test("the Markdown spend report stays a command", async () => {
  const status = parseStatus(await expectStatus(/ today · .* session/));
  await page.keyboard.press("F1");
  await page.locator(".quick-input-widget input").fill(">routerls: Show spend report");
  await page.locator(".quick-input-widget .monaco-list-row").filter({ hasText: "Show spend report" }).first().click();
  await page.locator(".part.editor .tab").filter({ hasText: /Preview report-/ }).waitFor();
  const preview = page.locator("iframe.webview").last().contentFrame().locator("#active-frame").contentFrame();
  await preview.getByText("routerls spend by model").waitFor();
  const body = await preview.locator("body").innerText();
  assert.match(body, /rl-mid/);
  assert.match(body, new RegExp(`today \\${usd(status.today)}`));
  await shot("07b-spend-report");
});

test("cancelling a running action from its progress notification leaves the text unchanged", async () => {
  await script({ rules: [{ contains: "Refactor the selected code", reply: { text: fence(REFACTORED), chunks: 10, chunk_delay: 0.4, prompt_tokens: 1000, completion_tokens: 200 } }] });
  await openFile("area.py");
  await openActionMenu(4);
  await choose("AI: Refactor (mid · rl-mid)");
  const toast = page.locator(".notification-toast").filter({ hasText: "AI: Refactor" });
  await toast.waitFor();
  await expectStatus(/rl-mid · \$\d\.\d{4} today/);
  await shot("08-progress-notification");
  await toast.hover();
  await toast.getByRole("button", { name: "Cancel" }).click();
  // the model would have finished by now; nothing may land late
  await page.waitForTimeout(4500);
  await expectEditorText(SOURCE);
  await expectStatus(idle()); // out of the running state; a cancelled run costs nothing
  await shot("09-cancelled");
});

test("editing the document while a slow action runs: the stale edit does not land", async () => {
  await script({ rules: [{ contains: "Refactor the selected code", reply: { text: fence(REFACTORED), chunks: 10, chunk_delay: 0.3, prompt_tokens: 1000, completion_tokens: 200 } }] });
  await openActionMenu(4);
  await choose("AI: Refactor (mid · rl-mid)");
  await expectStatus(/rl-mid · /);
  // the user goes on typing inside the code the model is rewriting
  await page.keyboard.press("Control+End");
  await page.keyboard.press("ArrowUp");
  await page.keyboard.press("End");
  await page.keyboard.type(" + 0");
  const typed = SOURCE.replace("math.pi * r * r", "math.pi * r * r + 0");
  // the run was paid for, though its edit was refused
  spent = { today: spent.today + cost(1000, 200, 2.5, 10), session: spent.session + cost(1000, 200, 2.5, 10) };
  await expectStatus(idle());
  await page.locator(".notification-toast").filter({ hasText: "changed where the edit goes" }).waitFor();
  await expectEditorText(typed);
  await shot("10-stale-edit-refused");
});

test("hover explain shows the explanation on hover", async () => {
  await script({ rules: [{ contains: "Explain what the selected code", reply: { text: HOVER_EXPLANATION, prompt_tokens: 200, completion_tokens: 20 } }] });
  const word = page.locator(".part.editor .view-line span").filter({ hasText: /^area$/ }).first();
  await word.hover();
  const hover = page.locator(".monaco-hover").filter({ hasText: "gives back the circle's area" });
  await hover.first().waitFor({ state: "visible", timeout: 20000 }).catch(async (e) => {
    await shot("no-hover");
    throw e;
  });
  spent = { today: spent.today + cost(200, 20, 1, 4), session: spent.session + cost(200, 20, 1, 4) };
  await expectStatus(idle());
  await shot("11-hover-explain");
  // a second hover over the same symbol is answered from the cache: no model, no spend
  await page.locator(".explorer-folders-view").hover();
  await hover.first().waitFor({ state: "hidden" });
  await word.hover();
  await hover.first().waitFor({ state: "visible" });
  await expectStatus(idle());
});

test("the dashboard reloads when a run finishes", async () => {
  const beforeText = await expectStatus(/ today · .* session/);
  const tokensIn = 400, tokensOut = 50, price = cost(400, 50, 1, 4);
  await script({ rules: [{ contains: "Explain what the selected code", reply: { text: EXPLANATION, prompt_tokens: tokensIn, completion_tokens: tokensOut } }] });
  await openFile("area.py");
  await openActionMenu(4);
  await choose("AI: Explain (cheap · rl-cheap)");
  spent = { today: spent.today + price, session: spent.session + price };
  // the status bar's new figures, as shown there, are what the page must show
  const after = parseStatus(await expectStatus(new RegExp(`^(?!${beforeText.replace(/[$.]/g, "\\$&")}$).* today · .* session$`)));
  await page.locator(".part.editor .tab").filter({ hasText: "routerls spend" }).click();
  const deadline = Date.now() + 15000;
  let seen;
  while (Date.now() < deadline) {
    seen = await dashboardToday().catch(() => null);
    if (seen && seen.todayText === usd(after.today)) break;
    await page.waitForTimeout(200);
  }
  assert.equal(seen?.todayText, usd(after.today));
  assert.equal(seen.sessionText, usd(after.session));
  assert.equal(Math.round(seen.barUsd * 1e4), Math.round(after.today * 1e4));
  assert.ok(seen.tiers.includes("cheap"), `the explain run on cheap in today's bar: ${seen.tiers}`);
  await shot("12-dashboard-refreshed");
});
