// Starts a metrics-api binary with demo data on a free loopback port for the tests, and
// says plainly why when it cannot: no binary at the path, a binary that exits, or one
// that never answers /readyz.
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/// The binary under test: METRICS_API_BIN, else the workspace's debug build (this file
/// runs from dist/test/, four levels below the repository root).
export function binaryPath(): string {
  return process.env.METRICS_API_BIN ?? resolve(import.meta.dirname, "../../../../target/debug/metrics-api");
}

export interface RunningServer {
  /// http://127.0.0.1:PORT
  origin: string;
  stop(): void;
}

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => ok(port));
    });
  });
}

/// Starts `metrics-api serve --demo` on an SQLite file of its own and waits (15 s at
/// most) until /readyz answers 200.
export async function startServer(extraArgs: string[] = []): Promise<RunningServer> {
  const bin = binaryPath();
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    throw new Error(
      `metrics-api binary not found or not executable at ${bin}: build it with \`cargo build\` ` +
        "in the repository root, or set METRICS_API_BIN to its path",
    );
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "metrics-client-"));
  const child: ChildProcess = spawn(bin, ["serve", "--demo", "--bind", `127.0.0.1:${port}`, ...extraArgs], {
    // Retention off: the tests read the demo data as loaded (retention would otherwise
    // start folding and expiring its older rows at start, racing the assertions).
    env: { ...process.env, DATABASE_URL: `sqlite://${join(dir, "demo.db")}`, RUST_LOG: "warn", RETENTION_EVERY: "off" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  let exited: string | null = null;
  child.once("exit", (code, signal) => {
    exited = signal ? `signal ${signal}` : `exit code ${code}`;
  });
  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`metrics-api (${bin}) stopped before it was ready: ${exited}; its log is above`);
    try {
      const r = await fetch(`${origin}/readyz`);
      if (r.ok) return { origin, stop: () => child.kill() };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`metrics-api (${bin}) did not answer 200 on ${origin}/readyz within 15 s`);
}
