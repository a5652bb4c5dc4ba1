// Reads the dashboard page the way a user's browser shows it: Debian's headless Chromium through
// playwright-core (vscode-client/e2e/node_modules), offline, with every request logged and any
// that would leave file:// refused. Writes what the page shows — the figures on the bars, the
// totals, the tier shares, the computed colours — as JSON, and a full-page screenshot.
//   node tests/support/dashboard_page.mjs PAGE.html OUT.json SHOT.png
import { createRequire } from "node:module";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(HERE, "..", "..", "vscode-client", "e2e", "package.json"));
const { chromium } = require("playwright-core");
const [page_, out, shot] = process.argv.slice(2);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const result = { requests: [], refused: [], console: [] };
try {
  const context = await browser.newContext({ offline: true, viewport: { width: 860, height: 900 } });
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("file://")) return route.continue();
    result.refused.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  page.on("request", (r) => result.requests.push(r.url()));
  page.on("console", (m) => result.console.push(`${m.type()}: ${m.text()}`));
  await page.goto(pathToFileURL(path.resolve(page_)).href, { waitUntil: "load" });
  Object.assign(result, await page.evaluate(() => {
    const num = (el, a = "data-usd") => Number(el.getAttribute(a));
    const bars = (chart) => [...document.querySelectorAll(`svg[data-chart="${chart}"] g.period`)].map((g) => ({
      period: g.dataset.period, usd: num(g),
      bars: [...g.querySelectorAll("rect.bar")].map((r) => ({
        tier: r.dataset.tier, usd: num(r), height: r.getBoundingClientRect().height,
        fill: getComputedStyle(r).fill,
      })),
    }));
    const totals = Object.fromEntries([...document.querySelectorAll("[data-total]")].map((el) => [
      el.dataset.total, { usd: el.dataset.usd === "" ? null : Number(el.dataset.usd),
        text: el.querySelector(".value").textContent }]));
    return {
      title: document.title,
      spend: bars("spend"), savings: bars("savings"), totals,
      tiers: [...document.querySelectorAll('svg[data-chart="tiers"] rect.bar')].map((r) => ({
        tier: r.dataset.tier, share: Number(r.dataset.share), requests: Number(r.dataset.requests),
        width: r.getBoundingClientRect().width })),
      tasks: [...document.querySelectorAll('table[data-chart="tasks"] tr[data-task]')].map((tr) => ({
        task: tr.dataset.task, requests: Number(tr.dataset.requests), escalated: Number(tr.dataset.escalated),
        causes: tr.querySelector("td.causes").textContent })),
      actions: [...document.querySelectorAll('svg[data-chart="actions"] rect.bar')].map((r) => ({
        action: r.dataset.action, usd: num(r), width: r.getBoundingClientRect().width })),
      budgets: [...document.querySelectorAll("[data-budget]")].map((el) => ({
        budget: el.dataset.budget, usd: num(el), drawn: el.tagName.toLowerCase() === "line" })),
      kept: [...document.querySelectorAll('table[data-chart="kept"] tr[data-task]')].map((tr) => {
        const bar = tr.querySelector("td.rate rect.bar");
        return { task: tr.dataset.task, tier: tr.dataset.tier, kept: Number(tr.dataset.kept),
          total: Number(tr.dataset.applied), rate: Number(tr.dataset.keptRate),
          text: tr.querySelector("td.rate").textContent, width: bar.getBoundingClientRect().width,
          fill: getComputedStyle(bar).fill };
      }),
      models: [...document.querySelectorAll('table[data-chart="models"] tr[data-model]')].map((tr) => tr.dataset.model),
      styled: getComputedStyle(document.body).maxWidth,
    };
  }));
  await page.screenshot({ path: shot, fullPage: true });
} finally {
  await browser.close();
}
fs.writeFileSync(out, JSON.stringify(result, null, 1));
