// The browser harness: starts the debug binary with demo data over a temporary SQLite
// file on a free port, and launches Debian's Chromium through playwright-core with a
// fresh profile and every request outside 127.0.0.1 blocked.
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const root = resolve(import.meta.dirname, "../..");
export const bin = process.env.METRICS_API_BIN ?? join(root, "target/debug/metrics-api");
export const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
/** Where screenshots go. */
export const shots = join(root, "target/browser");

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/**
 * Starts `metrics-api serve --demo` on a free port; `extraArgs` and `env` are added.
 * Resolves to { url, stop() } once /readyz answers.
 */
export async function startServer({ extraArgs = [], env = {} } = {}) {
  if (!existsSync(bin)) {
    throw new Error(`no metrics-api binary at ${bin}: run \`cargo build\` first, or set METRICS_API_BIN`);
  }
  const dir = mkdtempSync(join(tmpdir(), "metrics-browser-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ["serve", "--demo", "--bind", `127.0.0.1:${port}`, ...extraArgs], {
    // Retention off: the pages are checked against the demo data as loaded (retention
    // would otherwise start expiring its older rows at start, racing the assertions).
    env: {
      ...process.env,
      DATABASE_URL: `sqlite://${join(dir, "demo.db")}`,
      RUST_LOG: "warn",
      RETENTION_EVERY: "off",
      ...env,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  let exited = null;
  child.on("exit", (code) => (exited = code));
  for (let i = 0; i < 600 && exited === null; i++) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) {
        return {
          url,
          stop() {
            child.kill();
            rmSync(dir, { recursive: true, force: true });
          },
        };
      }
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(exited === null ? "metrics-api did not become ready in 60 s" : `metrics-api exited with ${exited}`);
}

/** Mints a token with the binary's `token` command. */
export function mintToken(secret) {
  return execFileSync(bin, ["token", "--jwt-secret", secret, "--projects", "*"], { encoding: "utf8" }).trim();
}

/**
 * A fresh Chromium context. `blocked` collects every request that tried to leave
 * 127.0.0.1 (each is aborted); `consoleErrors` every console error and uncaught
 * exception of its pages.
 */
export async function launch() {
  if (!existsSync(chromiumPath)) {
    throw new Error(`no Chromium at ${chromiumPath}: apt-get install -y chromium, or set CHROMIUM`);
  }
  const profile = mkdtempSync(join(tmpdir(), "metrics-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1360, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const blocked = [];
  const consoleErrors = [];
  await context.route("**/*", (route) => {
    const u = new URL(route.request().url());
    if (u.hostname === "127.0.0.1") return route.continue();
    blocked.push(u.href);
    return route.abort("blockedbyclient");
  });
  context.on("page", (page) => watch(page, consoleErrors));
  for (const page of context.pages()) watch(page, consoleErrors);
  mkdirSync(shots, { recursive: true });
  return {
    context,
    blocked,
    consoleErrors,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

function watch(page, errors) {
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`${page.url()}: uncaught ${e.message}`));
}

/** The GraphQL POSTs a page makes, with their operation names. */
export function recordGraphql(page) {
  const requests = [];
  page.on("request", (r) => {
    if (new URL(r.url()).pathname === "/graphql" && r.method() === "POST") {
      requests.push(JSON.parse(r.postData() ?? "{}").operationName ?? null);
    }
  });
  return requests;
}
