// VS Code's Restricted Mode: code-server with Workspace Trust on, and a cloned folder it does not
// trust whose `.routerls.yaml` names a program. The extension runs (limited support); the server
// gets `workspaceTrusted: false`, shows what it ignored with no trust action, and an AI: Format
// runs the user's own tool (ruff), never the workspace's program. Trusting the folder in VS Code
// restarts the server, which then offers its own trust. Models are tests/support/modelserver.py on
// loopback, configured in the user's config file (a workspace file may not point at them).
//
// Run through ../scripts/e2e-code-server.sh (ROUTERLS_E2E_FILES=e2e/restricted.test.mjs).
// Screenshots: $ROUTERLS_E2E_SHOTS/restricted-mode/ (default ../test-results/restricted-mode).
import { strict as assert } from "node:assert";
import { spawn, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLIENT = path.resolve(HERE, "..");
const REPO = path.resolve(CLIENT, "..");
const PYTHON = process.env.ROUTERLS_PYTHON || path.join(REPO, ".venv", "bin", "python");
const VSIX = process.env.ROUTERLS_VSIX || path.join(CLIENT, "routerls.vsix");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SHOTS = path.join(process.env.ROUTERLS_E2E_SHOTS || path.join(CLIENT, "test-results"), "restricted-mode");
const CODE_SERVER = path.join(HERE, "node_modules", "code-server", "out", "node", "entry.js");
const TRUST_ACTION = "Trust this workspace's routerls config";

const SOURCE = "x  =  1\n";
const FORMATTED = "x = 1\n";
const USER_CONFIG = (url) => `\
tiers:
  local:    {models: [{model: openai/local-coder, api_base: "${url}", price: {input_per_mtok: 0.0, output_per_mtok: 0.0}}]}
  cheap:    {models: [{model: openai/rl-cheap, api_base: "${url}", api_key_env: ROUTERLS_TEST_KEY}]}
  mid:      {models: [{model: openai/rl-mid, api_base: "${url}", api_key_env: ROUTERLS_TEST_KEY}]}
  frontier: {models: [{model: openai/rl-frontier, api_base: "${url}", api_key_env: ROUTERLS_TEST_KEY}]}
gateway: {timeout_s: 30, retries: 0, backoff_s: 0}
`;
const SETTINGS = (python) => ({
  "workbench.startupEditor": "none",
  "chat.disableAIFeatures": true,
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "extensions.ignoreRecommendations": true,
  "git.enabled": false,
  "workbench.tips.enabled": false,
  "editor.minimap.enabled": false,
  "security.workspace.trust.enabled": true,
  "security.workspace.trust.startupPrompt": "never", // straight into Restricted Mode, no modal
  "security.workspace.trust.untrustedFiles": "open",
  "routerls.interpreter": python, // a user setting: honoured in Restricted Mode
});

let tmp, ws, marker, page, context;
const children = [];

function start(command, args, options) {
  const child = spawn(command, args, { detached: true, ...options });
  children.push(child);
  return child;
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
  throw new Error(`code-server did not answer /healthz in ${timeoutMs} ms`);
}

const shot = (name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`) });

async function editorText() {
  return page.locator(".part.editor .editor-instance .monaco-editor .view-lines").first().evaluate((el) =>
    [...el.querySelectorAll(".view-line")]
      .map((l) => ({ top: parseFloat(l.style.top) || 0, text: l.textContent.replace(/\u00a0/g, " ") }))
      .sort((a, b) => a.top - b.top).map((l) => l.text).join("\n"));
}

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  for (const f of fs.readdirSync(SHOTS)) if (f.endsWith(".png")) fs.rmSync(path.join(SHOTS, f));
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "routerls-restricted-"));
  const dirs = Object.fromEntries(["ws", "data", "home", "xdg", "user-data", "extensions", "profile"]
    .map((d) => [d, path.join(tmp, d)]));
  Object.values(dirs).forEach((d) => fs.mkdirSync(d, { recursive: true }));
  ws = dirs.ws;
  marker = path.join(tmp, "pwned");

  const models = start(PYTHON, [path.join(REPO, "tests", "support", "modelserver.py"), "--port", "0"],
    { stdio: ["ignore", "pipe", "inherit"] });
  const modelsUrl = await new Promise((resolve, reject) => {
    createInterface({ input: models.stdout }).once("line", resolve);
    models.once("exit", (code) => reject(new Error(`model server exited ${code}`)));
  });
  // the cloned repository: its config names a program, the report's example
  fs.writeFileSync(path.join(ws, ".routerls.yaml"),
    `tools:\n  format:\n    python: {name: evil, command: [sh, -c, "touch ${marker}; cat"]}\n`);
  fs.writeFileSync(path.join(ws, "a.py"), SOURCE);
  fs.mkdirSync(path.join(dirs.xdg, "routerls"), { recursive: true });
  fs.writeFileSync(path.join(dirs.xdg, "routerls", "config.yaml"), USER_CONFIG(modelsUrl));
  fs.mkdirSync(path.join(dirs["user-data"], "User"), { recursive: true });
  fs.writeFileSync(path.join(dirs["user-data"], "User", "settings.json"), JSON.stringify(SETTINGS(PYTHON), null, 2));

  const env = {
    ...process.env, EXTENSIONS_GALLERY: "{}", HOME: dirs.home, XDG_CONFIG_HOME: dirs.xdg,
    XDG_DATA_HOME: path.join(dirs.home, ".local", "share"), ROUTERLS_DATA_DIR: dirs.data,
    LITELLM_LOCAL_MODEL_COST_MAP: "True", ROUTERLS_TEST_KEY: "sk-test-restricted",
  };
  delete env.ROUTERLS_CONFIG;
  const dirArgs = ["--user-data-dir", dirs["user-data"], "--extensions-dir", dirs.extensions];
  execFileSync(process.execPath, [CODE_SERVER, ...dirArgs, "--install-extension", VSIX, "--force"],
    { env, stdio: ["ignore", "ignore", "inherit"], timeout: 120000 });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const log = path.join(tmp, "code-server.log");
  const out = fs.openSync(log, "w");
  // no --disable-workspace-trust: VS Code's Workspace Trust is on, and this folder is not trusted
  const server = start(process.execPath, [CODE_SERVER, "--bind-addr", `127.0.0.1:${port}`, "--auth", "none",
    "--disable-telemetry", "--disable-update-check", "--disable-getting-started-override", ...dirArgs, ws],
  { env, stdio: ["ignore", out, out] });
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
  if (page) await shot("zz-last").catch(() => {});
  await context?.close().catch(() => {});
  for (const child of children.reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      /* gone already */
    }
  }
  if (tmp && !process.env.ROUTERLS_E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
});

test("Restricted Mode: the ignored program is named, no trust is offered, and Format runs only the user's tool", async () => {
  await page.getByText("Restricted Mode", { exact: false }).first().waitFor({ timeout: 60000 });
  const toast = page.locator(".notification-toast").filter({ hasText: "tools.format.python" });
  await toast.first().waitFor({ timeout: 60000 });
  const text = (await toast.first().innerText()).replace(/\s+/g, " ");
  assert.match(text, /\.routerls\.yaml:3: tools\.format\.python \(runs a program\)/);
  assert.match(text, /restricted mode/);
  assert.equal(await toast.getByRole("button", { name: TRUST_ACTION }).count(), 0, "no trust action in Restricted Mode");
  await toast.first().hover();
  const expand = toast.locator(".codicon-notifications-expand");
  if (await expand.count()) await expand.first().click(); // the whole message in the screenshot
  await shot("01-restricted-mode-message");

  await page.locator(".explorer-folders-view .monaco-list-row").filter({ hasText: "a.py" }).first().click();
  await page.locator(".part.editor .tab.active").filter({ hasText: "a.py" }).waitFor();
  await page.locator(".part.editor .editor-instance .monaco-editor .overflow-guard").first().click({ position: { x: 600, y: 400 } });
  await page.keyboard.press("Control+A");
  const bulb = page.locator('.part.editor .lightBulbWidget, .part.editor [class*="codicon-gutter-lightbulb"]');
  await bulb.first().waitFor({ state: "visible", timeout: 30000 });
  await page.keyboard.press("Control+.");
  const menu = page.locator(".action-widget");
  await menu.locator(".monaco-list-row").first().waitFor({ state: "visible" });
  const titles = (await menu.locator(".monaco-list-row").allInnerTexts()).map((t) => t.replace(/\s+/g, " ").trim());
  assert.ok(titles.some((t) => t.includes("AI: Format (tools · ruff)")), JSON.stringify(titles));
  await shot("02-format-offered-with-the-users-ruff");
  const focused = page.locator(".action-widget .monaco-list-row.focused");
  for (let i = 0; i < 20 && !(await focused.innerText().catch(() => "")).includes("AI: Format"); i++) {
    await page.keyboard.press("ArrowDown");
  }
  await page.keyboard.press("Enter");
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline && (await editorText()) !== FORMATTED) await page.waitForTimeout(100);
  assert.equal(await editorText(), FORMATTED, "ruff formatted the file");
  assert.equal(fs.existsSync(marker), false, "the workspace's program never ran");
  await shot("03-formatted-nothing-ran");
});

test("trusting the folder in VS Code lets routerls offer its own trust", async () => {
  await page.keyboard.press("Escape");
  await page.keyboard.press("F1");
  await page.keyboard.type("Manage Workspace Trust");
  await page.locator(".quick-input-widget .monaco-list-row").filter({ hasText: "Manage Workspace Trust" }).first().click();
  await page.getByRole("button", { name: /^Trust$/ }).first().click();
  const offer = page.locator(".notification-toast").filter({ hasText: "tools.format.python" })
    .filter({ has: page.getByRole("button", { name: TRUST_ACTION }) });
  await offer.first().waitFor({ timeout: 60000 });
  await shot("04-trust-offered-after-vscode-trust");
  assert.equal(fs.existsSync(marker), false);
});
