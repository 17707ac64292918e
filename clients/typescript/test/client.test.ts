// Runs the generated operations with a real GraphQL client against a live metrics-api
// started with demo data (node's test runner).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { liveClient, metricsClient, metricsUpdates, walkDrilldown, type MetricsUpdate } from "../src/client.js";

const bin = process.env.METRICS_API_BIN ?? resolve(import.meta.dirname, "../../../../target/debug/metrics-api");
const port = 18000 + (process.pid % 1000);
const endpoint = `http://127.0.0.1:${port}/graphql`;
const wsEndpoint = `ws://127.0.0.1:${port}/graphql`;
let server: ChildProcess;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "metrics-client-"));
  server = spawn(bin, ["serve", "--demo", "--bind", `127.0.0.1:${port}`], {
    env: { ...process.env, DATABASE_URL: `sqlite://${join(dir, "demo.db")}`, RUST_LOG: "warn" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (let i = 0; i < 300; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (r.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("metrics-api did not become ready");
});

after(() => {
  server?.kill();
});

function lastDays(days: number): { from: string; to: string } {
  const to = new Date();
  to.setUTCHours(0, 0, 0, 0);
  const from = new Date(to.getTime() - days * 86_400_000);
  return { from: from.toISOString(), to: to.toISOString() };
}

test("the dashboard answers for every demo project", async () => {
  const api = metricsClient(endpoint);
  const { from, to } = lastDays(30);
  const data = await api.dashboard(from, to);
  const nodes = data.projectList.edges.map((e) => e.node);
  assert.deepEqual(nodes.map((n) => n.name), ["Atlas", "Borealis", "Cygnus"]);
  for (const p of nodes) {
    assert.ok(p.summary, "a latest summary");
    assert.equal(p.completed.points.length, 30, "fill: ZERO gives one point per day");
    assert.equal(p.completed.comparison?.points.length, 30, "the previous period lines up");
    const shares = p.wip.items.reduce((s, i) => s + (i.share ?? 0), 0);
    assert.ok(Math.abs(shares - 1) < 1e-9, `shares sum to 1, got ${shares}`);
    assert.equal(p.newest.edges.length, 5);
    assert.ok(p.newest.pageInfo.hasNextPage);
  }
});

test("per-team series and the catalog", async () => {
  const api = metricsClient(endpoint);
  const { from, to } = lastDays(7);
  const first = (await api.dashboard(from, to)).projectList.edges[0]!.node.id;
  const series = await api.teamSeries(first, from, to);
  const dims = series.project!.trendsMatching.map((s) => JSON.stringify(s.dimensions));
  assert.deepEqual(dims, ['{"team":"platform"}', '{"team":"web"}', "{}"].sort());
  const catalog = await api.catalog();
  assert.ok(catalog.metricCatalog.some((m) => m.key === "tasks_completed" && m.aggregation === "SUM"));
});

test("walking a drilldown visits every row once", async () => {
  const api = metricsClient(endpoint);
  const { from, to } = lastDays(1);
  const first = (await api.dashboard(from, to)).projectList.edges[0]!.node.id;
  const ids = await walkDrilldown(api, first);
  assert.equal(ids.length, 200, "the demo has 200 task rows per project");
  assert.equal(new Set(ids).size, ids.length);
});

test("a subscription hears a committed write, then the tile is refetched", async () => {
  const api = metricsClient(endpoint);
  const { from, to } = lastDays(7);
  const project = (await api.dashboard(from, to)).projectList.edges[0]!.node.id;
  const live = liveClient(wsEndpoint);
  const updates = metricsUpdates(live, { projectIds: [project], metricKeys: ["tasks_completed"] });
  try {
    const next = async (): Promise<MetricsUpdate> => {
      const r = await updates.next();
      assert.ok(!r.done, "the subscription ended early");
      return r.value;
    };
    assert.equal((await next()).kind, "SUBSCRIBED", "live: load the tiles now");
    const bucket = new Date(Date.parse(to) - 86_400_000).toISOString();
    const written = await api.upsertTrendPoints([
      { projectId: project, metricKey: "tasks_completed", grain: "DAY", bucket, value: 4242 },
    ]);
    assert.equal(written.upsertTrendPoints.inserted + written.upsertTrendPoints.updated, 1);
    const update = await next();
    assert.equal(update.kind, "UPDATED");
    assert.deepEqual(
      update.changes.map((c) => [c.projectId, c.shape, c.metricKey, c.grain, c.buckets.map((b) => Date.parse(b))]),
      [[project, "TREND", "tasks_completed", "DAY", [Date.parse(bucket)]]],
    );
    // The refetch sees the new value in the tile the change named.
    const tile = (await api.dashboard(from, to)).projectList.edges[0]!.node.completed.points;
    assert.ok(tile.some((p) => Date.parse(p.bucket) === Date.parse(bucket) && p.value === 4242));
  } finally {
    await updates.return?.();
    await live.dispose();
  }
});
