// End to end as the extension drives the server: a Node LSP client (vscode-jsonrpc) starts
// `routerls serve` with the command and initializationOptions the extension would build, asks for
// code actions, executes one, applies the server's workspace/applyEdit to a TextDocument, and
// renders every $/routerls/status through the extension's own status-bar code. Models are the
// project's scripted model server (tests/support/modelserver.py) on loopback.
//
// Environment: ROUTERLS_PYTHON (default ../.venv/bin/python) runs both the server and the model
// server.
import { strict as assert } from "node:assert";
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { createInterface } from "node:readline";
import { createMessageConnection, Trace, MessageConnection, StreamMessageReader, StreamMessageWriter } from "vscode-jsonrpc/node";
import {
  ApplyWorkspaceEditParams, ApplyWorkspaceEditResult, CodeAction, Command, InitializeParams, TextDocumentEdit,
} from "vscode-languageserver-protocol";
import { TextDocument } from "vscode-languageserver-textdocument";
import { resolveServerCommand, RouterlsSettings, toServerSettings } from "../common/options";
import { initialState, onSpend, onStatus, render, SpendResult, StatusNotification, StatusState } from "../common/statusModel";

const REPO = path.resolve(__dirname, "..", "..", "..");
const PYTHON = process.env.ROUTERLS_PYTHON || path.join(REPO, ".venv", "bin", "python");

const SOURCE = "import math\n\n\ndef area(r):\n    return math.pi * r * r\n";
const REFACTORED = "def area(r):\n    return math.pi * r**2\n";

const CONFIG = (url: string) => `\
tiers:
  local:    {models: [{model: openai/local-coder, api_base: "${url}", price: {input_per_mtok: 0.0, output_per_mtok: 0.0}}]}
  cheap:    {models: [{model: openai/rl-cheap, api_base: "${url}", api_key_env: ROUTERLS_TEST_KEY, price: {input_per_mtok: 1.0, output_per_mtok: 4.0}}]}
  mid:      {models: [{model: openai/rl-mid, api_base: "${url}", api_key_env: ROUTERLS_TEST_KEY, price: {input_per_mtok: 2.5, output_per_mtok: 10.0}}]}
  frontier: {models: [{model: openai/rl-frontier, api_base: "${url}", api_key_env: ROUTERLS_TEST_KEY, price: {input_per_mtok: 10.0, output_per_mtok: 30.0}}]}
gateway: {timeout_s: 20, retries: 0, backoff_s: 0}
`;

let tmp: string;
let models: ChildProcess;
let modelsUrl: string;
let server: ChildProcess;
let conn: MessageConnection;
const docs = new Map<string, TextDocument>();
let bar: StatusState = initialState;
const statuses: StatusNotification[] = [];
const rendered: string[] = [];
let waiters: (() => void)[] = [];

// what the user has in settings.json
const settings: RouterlsSettings = { interpreter: PYTHON, budgets: { dailyUsd: 0.005 }, hover: { explain: false } };

async function startModels(): Promise<string> {
  models = spawn(PYTHON, [path.join(REPO, "tests", "support", "modelserver.py"), "--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: models.stdout! }).once("line", resolve);
    models.once("exit", (code) => reject(new Error(`model server exited ${code}`)));
  });
  assert.match(first, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
  return first;
}

async function script(body: unknown): Promise<void> {
  const res = await fetch(new URL("/_script", modelsUrl), { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
  assert.equal(res.status, 200);
}

function applyEdit(params: ApplyWorkspaceEditParams): ApplyWorkspaceEditResult {
  for (const change of params.edit.documentChanges ?? []) {
    if (!("edits" in change)) return { applied: false, failureReason: "only text edits expected here" };
    const edit = change as TextDocumentEdit;
    const doc = docs.get(edit.textDocument.uri);
    if (!doc) return { applied: false, failureReason: "unknown document" };
    if (edit.textDocument.version !== null && edit.textDocument.version !== doc.version) {
      return { applied: false, failureReason: `version ${edit.textDocument.version} is not ${doc.version}` };
    }
    const edits = edit.edits.map((e) => ({ range: e.range, text: e.newText }));
    const next = TextDocument.update(doc, edits, doc.version + 1);
    docs.set(doc.uri, next);
    // VS Code sends the change back, as any editor does
    void conn.sendNotification("textDocument/didChange", {
      textDocument: { uri: doc.uri, version: next.version },
      contentChanges: [{ text: next.getText() }],
    });
  }
  return { applied: true };
}

function nextStatus(state: string, timeoutMs = 20000): Promise<StatusNotification> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${state} status; got ${JSON.stringify(statuses)}`)), timeoutMs);
    const check = () => {
      const i = statuses.findIndex((s) => s.state === state);
      if (i < 0) return false;
      const [found] = statuses.splice(0, i + 1).slice(-1);
      clearTimeout(timer);
      resolve(found);
      return true;
    };
    if (!check()) waiters.push(() => void check());
  });
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "routerls-vscode-e2e-"));
  modelsUrl = await startModels();
  const config = path.join(tmp, "routerls-test.yaml");
  fs.writeFileSync(config, CONFIG(modelsUrl));
  fs.mkdirSync(path.join(tmp, "ws"));
  const cmd = resolveServerCommand(settings);
  assert.deepEqual(cmd.args, ["-m", "routerls", "serve"]);
  server = spawn(cmd.command, cmd.args, {
    cwd: path.join(tmp, "ws"),
    env: {
      ...process.env, ROUTERLS_CONFIG: config, ROUTERLS_DATA_DIR: path.join(tmp, "data"),
      XDG_CONFIG_HOME: path.join(tmp, "xdg"), LITELLM_LOCAL_MODEL_COST_MAP: "True", ROUTERLS_TEST_KEY: "sk-test-e2e",
    },
    stdio: ["pipe", "pipe", process.env.ROUTERLS_E2E_TRACE ? "inherit" : "ignore"],
  });
  conn = createMessageConnection(new StreamMessageReader(server.stdout!), new StreamMessageWriter(server.stdin!));
  conn.onRequest("workspace/applyEdit", applyEdit);
  conn.onRequest("window/workDoneProgress/create", () => null);
  conn.onRequest("window/showDocument", () => ({ success: true }));
  conn.onRequest("client/registerCapability", () => null);
  conn.onNotification("$/progress", () => undefined);
  conn.onNotification("window/logMessage", () => undefined);
  conn.onNotification("window/showMessage", () => undefined);
  conn.onNotification("$/routerls/status", (n: StatusNotification) => {
    bar = onStatus(bar, n);
    rendered.push(render(bar).text);
    statuses.push(n);
    const pending = waiters;
    waiters = [];
    pending.forEach((w) => w());
  });
  if (process.env.ROUTERLS_E2E_TRACE) {
    server.stdout!.on("data", (d: Buffer) => fs.appendFileSync(process.env.ROUTERLS_E2E_TRACE!, d));
    conn.trace(Trace.Verbose, { log: (m: string, d?: string) => process.stderr.write(`${m} ${d ?? ""}\n`) });
  }
  conn.onError((e) => process.stderr.write(`jsonrpc error: ${e}\n`));
  conn.onUnhandledNotification((n) => process.stderr.write(`unhandled: ${n.method}\n`));
  conn.listen();
  const root = pathToFileURL(path.join(tmp, "ws")).toString();
  const params: InitializeParams = {
    processId: process.pid,
    rootUri: root,
    workspaceFolders: [{ uri: root, name: "ws" }],
    initializationOptions: toServerSettings(settings),
    // the parts of VS Code's capabilities the server looks at
    capabilities: {
      general: { positionEncodings: ["utf-16"] },
      workspace: { applyEdit: true, workspaceEdit: { documentChanges: true, resourceOperations: ["create"] }, configuration: true },
      window: { workDoneProgress: true, showDocument: { support: true } },
      textDocument: {
        codeAction: { codeActionLiteralSupport: { codeActionKind: { valueSet: ["quickfix", "refactor", "refactor.rewrite", "source"] } }, resolveSupport: { properties: ["edit"] }, dataSupport: true },
        hover: { contentFormat: ["markdown", "plaintext"] },
      },
    },
  };
  const init = await conn.sendRequest("initialize", params);
  assert.ok((init as { capabilities: { codeActionProvider?: unknown } }).capabilities.codeActionProvider);
  await conn.sendNotification("initialized", {});
});

after(async () => {
  try {
    await Promise.race([conn.sendRequest("shutdown"), new Promise((r) => setTimeout(r, 5000))]);
    await conn.sendNotification("exit");
  } catch { /* the server may be gone already */ }
  conn?.dispose();
  server?.kill();
  models?.kill();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function open(name: string, text: string): string {
  const uri = pathToFileURL(path.join(tmp, "ws", name)).toString();
  docs.set(uri, TextDocument.create(uri, "python", 1, text));
  void conn.sendNotification("textDocument/didOpen", { textDocument: { uri, languageId: "python", version: 1, text } });
  return uri;
}

async function codeActions(uri: string, range: unknown): Promise<CodeAction[]> {
  return (await conn.sendRequest("textDocument/codeAction", { textDocument: { uri }, range, context: { diagnostics: [] } })) as CodeAction[];
}

const AREA = { start: { line: 3, character: 0 }, end: { line: 5, character: 0 } };

test("the status bar shows today's and the session's spend before any run", async () => {
  bar = onSpend(bar, (await conn.sendRequest("routerls/spend", {})) as SpendResult);
  assert.equal(render(bar).text, "$(hubot) $0.0000 today · $0.0000 session");
  assert.deepEqual(bar.budget, { dailyUsd: 0.005, monthlyUsd: 20 }); // the setting reached the server
});

test("refactor: titled with tier and model, run, edit applied, spend shown and red near the budget", async () => {
  await script({ models: { "openai/rl-mid": [{ text: "```python\n" + REFACTORED + "```", prompt_tokens: 1000, completion_tokens: 200 }] } });
  const uri = open("area.py", SOURCE);
  const offered = await codeActions(uri, AREA);
  const refactor = offered.find((a) => (a.command as Command | undefined)?.arguments?.[0]?.action === "refactor");
  assert.ok(refactor, JSON.stringify(offered));
  assert.equal(refactor.title, "AI: Refactor (mid · rl-mid)");
  assert.equal(refactor.kind, "refactor.rewrite");
  const command = refactor.command as Command;
  const result = (await conn.sendRequest("workspace/executeCommand", { command: command.command, arguments: command.arguments })) as { state: string };
  assert.equal(result.state, "done", JSON.stringify(result));
  const done = await nextStatus("done");
  assert.equal(docs.get(uri)!.getText(), SOURCE.replace("math.pi * r * r", "math.pi * r**2"));
  assert.equal(done.model, "rl-mid");
  assert.ok(Math.abs(done.costUsd - (1000 * 2.5 + 200 * 10) / 1e6) < 1e-12, String(done.costUsd));
  // the spinner showed the model while it ran, then the spend
  assert.ok(rendered.includes("$(sync~spin) rl-mid · $0.0000 today"), JSON.stringify(rendered));
  const view = render(bar);
  assert.equal(view.text, "$(warning) $0.0045 today · $0.0045 session");
  assert.equal(view.alarm, "error"); // $0.0045 of a $0.005 daily budget
  assert.match(view.tooltip, /last: refactor on mid · rl-mid, 1000 in \/ 200 out, \$0\.0045/);
});

test("a settings change goes to the server: a bigger budget and strategy cost put refactor on cheap", async () => {
  const uri = open("change.py", SOURCE);
  await conn.sendNotification("workspace/didChangeConfiguration", { settings: toServerSettings({ ...settings, strategy: "cost", budgets: { dailyUsd: 1 } }) });
  const titles = (await codeActions(uri, AREA)).map((a) => a.title);
  assert.ok(titles.includes("AI: Refactor (cheap · rl-cheap)"), JSON.stringify(titles));
});

test("the report is markdown with the run in it", async () => {
  const markdown = (await conn.sendRequest("workspace/executeCommand", { command: "routerls.report", arguments: [{ by: "model" }] })) as string;
  assert.match(markdown, /^# routerls spend by model/);
  assert.match(markdown, /\| rl-mid \| 1 \| 1000 \| 200 \|/);  // one key per model: the config entry's name
});
