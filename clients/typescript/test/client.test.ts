// Runs the generated operations with a real GraphQL client against a live metrics-api
// started with demo data (node's test runner).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { metricsClient, walkDrilldown } from "../src/client.js";
import { startServer, type RunningServer } from "./server.js";

let server: RunningServer;
let endpoint: string;

before(async () => {
  server = await startServer();
  endpoint = `${server.origin}/graphql`;
});

after(() => {
  server?.stop();
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
    // The analytic fields are nullable (a failing one is null, see partial.test.ts).
    const { completed, wip, newest } = p;
    assert.ok(p.summary, "a latest summary");
    assert.ok(completed && wip && newest, "every widget answered");
    assert.equal(completed.points.length, 30, "fill: ZERO gives one point per day");
    assert.equal(completed.comparison?.points.length, 30, "the previous period lines up");
    const shares = wip.items.reduce((s, i) => s + (i.share ?? 0), 0);
    assert.ok(Math.abs(shares - 1) < 1e-9, `shares sum to 1, got ${shares}`);
    assert.equal(newest.edges.length, 5);
    assert.ok(newest.pageInfo.hasNextPage);
  }
});

test("per-team series and the catalog", async () => {
  const api = metricsClient(endpoint);
  const { from, to } = lastDays(7);
  const first = (await api.dashboard(from, to)).projectList.edges[0]!.node.id;
  const series = await api.teamSeries(first, from, to);
  const dims = (series.project?.trendsMatching ?? []).map((s) => JSON.stringify(s.dimensions));
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
