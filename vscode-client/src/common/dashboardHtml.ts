// The dashboard page as the webview gets it. Pure (no `vscode` import), so the unit tests check it.
// The server's page carries its own policy (no script, no request, its style block by nonce); a
// page without one — an older server — gets the strictest policy here rather than none.

export const STRICT_POLICY = "default-src 'none'; img-src data:; script-src 'none'";

const POLICY = /<meta\s+http-equiv=["']?Content-Security-Policy["']?\s+content="([^"]*)"[^>]*>/i;

/** The policy the page declares, or null. */
export function declaredPolicy(html: string): string | null {
  return POLICY.exec(html)?.[1] ?? null;
}

/** The page with a policy that forbids scripts and any request (the server's, when it has one). */
export function webviewPage(html: string): string {
  const policy = declaredPolicy(html);
  if (policy !== null && /default-src 'none'/.test(policy) && !/script-src (?!'none')/.test(policy)) return html;
  const meta = `<meta http-equiv="Content-Security-Policy" content="${STRICT_POLICY}">`;
  const stripped = html.replace(new RegExp(POLICY.source, "gi"), "");
  return /<head[^>]*>/i.test(stripped) ? stripped.replace(/<head[^>]*>/i, (h) => h + meta) : meta + stripped;
}

/** A one-line page, under the strict policy, for when there is no server or no answer. */
export function messagePage(text: string): string {
  const escaped = text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
  return `<!doctype html><html><head><meta http-equiv="Content-Security-Policy" content="${STRICT_POLICY}">` +
    `</head><body><p>${escaped}</p></body></html>`;
}
