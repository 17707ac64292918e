// The dashboard at `/` in a real browser (issue 17), against the binary with demo data,
// every request outside 127.0.0.1 blocked.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { launch, mintToken, recordGraphql, shots, startServer } from "./harness.mjs";

const NIL = "00000000-0000-0000-0000-0000000000ff";
let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

/** Waits for the next answered GraphQL request named `operation`. */
function answered(page, operation) {
  return page.waitForResponse(
    (r) => new URL(r.url()).pathname === "/graphql" && JSON.parse(r.request().postData() ?? "{}").operationName === operation
  );
}

async function rows(page) {
  return page.locator("#drilldown-table tbody tr").allInnerTexts();
}

test("first paint: every panel drawn from one GraphQL request", async () => {
  const page = await browser.context.newPage();
  const operations = recordGraphql(page);
  await page.goto(`${server.url}/`);
  await page.locator("#trend-chart canvas").waitFor();
  await page.locator("#series-chart canvas").waitFor();
  await page.locator("#breakdown-chart .bar-row").first().waitFor();
  await page.waitForLoadState("networkidle");

  assert.deepEqual(operations, ["DashboardPage"], "the first paint is exactly one GraphQL request");
  assert.equal(await page.locator("#project").inputValue(), "01950000-0000-7000-8000-000000000001");
  assert.deepEqual(await page.locator("#project option").allInnerTexts(), ["Atlas", "Borealis", "Cygnus"]);
  assert.ok((await page.locator("#cards .card").count()) >= 4, "summary cards");
  assert.equal(await page.locator("#breakdown-chart .bar-row").count(), 4, "wip by four states");
  assert.match(await page.locator("#breakdown-chart").innerText(), /in_progress[\s\S]*%/);
  assert.equal((await rows(page)).length, 10, "a page of drilldown rows");
  assert.match(await page.locator("#request").innerText(), /1 GraphQL request \(DashboardPage\), \d+ ms/);
  // The link opens the same operation in GraphiQL (in the fragment, never sent).
  const link = new URL(await page.locator("#graphiql-link").getAttribute("href"), server.url);
  assert.equal(link.pathname, "/graphql");
  const params = new URLSearchParams(link.hash.slice(1));
  assert.equal(params.get("operationName"), "DashboardPage");
  assert.match(params.get("query"), /query DashboardPage/);
  assert.equal(JSON.parse(params.get("variables")).metricKey, "tasks_completed");
  // The legend names the metric; the trend chart has the previous period too.
  assert.match(await page.locator("#trend-chart .u-legend").innerText(), /tasks_completed[\s\S]*previous period/);

  await page.screenshot({ path: join(shots, "dashboard.png"), fullPage: true });
  assert.deepEqual(browser.consoleErrors, [], "no console errors");
  assert.deepEqual(browser.blocked, [], "no request left 127.0.0.1");

  // Followed, the link opens GraphiQL on that operation, which runs as the page ran it.
  await page.goto(link.href);
  await page.locator(".graphiql-query-editor").getByText("DashboardPage").first().waitFor();
  const ran = answered(page, "DashboardPage");
  await page.locator(".graphiql-execute-button").click();
  const body = await (await ran).json();
  assert.equal(body.errors, undefined);
  assert.equal(body.data.firstProject.edges[0].node.name, "Atlas");
  await page.locator(".graphiql-response").getByText('"data"').first().waitFor();
  assert.deepEqual(browser.blocked, [], "no request left 127.0.0.1");
  await page.close();
});

test("controls redraw: metric, project, range; next page shows other rows", async () => {
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/`);
  await page.locator("#drilldown-table tbody tr").first().waitFor();
  const first = await rows(page);

  // Another metric: only the trend is asked again, and redrawn.
  const trend = answered(page, "DashboardTrend");
  await page.locator("#metric").selectOption("task_cycle_time");
  await trend;
  await page.locator("#trend-chart .u-legend", { hasText: "task_cycle_time" }).waitFor();

  // Next page: other rows; previous page: the first ones again.
  let drill = answered(page, "DashboardDrilldown");
  await page.locator("#next-page").click();
  await drill;
  await page.locator("#page-info", { hasText: "rows 11–20" }).waitFor();
  const second = await rows(page);
  assert.equal(second.length, 10);
  assert.equal(second.filter((r) => first.includes(r)).length, 0, "the next page shares no row with the first");
  drill = answered(page, "DashboardDrilldown");
  await page.locator("#prev-page").click();
  await drill;
  await page.locator("#page-info", { hasText: "rows 1–10" }).waitFor();
  assert.deepEqual(await rows(page), first);

  // The other order: other rows.
  drill = answered(page, "DashboardDrilldown");
  await page.locator("#order").selectOption("ENTITY");
  await drill;
  await page.locator("#page-info", { hasText: "rows 1–10" }).waitFor();
  assert.notDeepEqual(await rows(page), first);

  // Another project: the whole dashboard again, in one request, with its own rows.
  const summary = await page.locator("#cards").innerText();
  const whole = answered(page, "DashboardPage");
  await page.locator("#project").selectOption({ label: "Borealis" });
  await whole;
  await page.locator("#trend-chart canvas").waitFor();
  assert.match(page.url(), /project=01950000-0000-7000-8000-000000000002/);
  assert.notEqual(await page.locator("#cards").innerText(), summary, "Borealis' summary");
  assert.equal((await rows(page)).length, 10);

  // A longer range reaches past the retention horizon: the line where full resolution
  // ends is announced.
  const ranged = answered(page, "DashboardPage");
  await page.locator("#range").selectOption("120");
  await ranged;
  await page.locator("#trend-note", { hasText: "full resolution from" }).waitFor();
  assert.equal(await page.locator('#grain option[value="HOUR"]').isDisabled(), true, "hours only up to 30 days");

  assert.deepEqual(browser.consoleErrors, [], "no console errors");
  await page.close();
});

test("filled buckets are marked: a sparse series written through the API", async () => {
  // Three stored days of the last seven, written with the API's own mutation.
  const today = new Date();
  today.setUTCHours(0, 0, 0, 0);
  const day = (n) => new Date(today.getTime() - n * 86_400_000).toISOString();
  const points = [7, 5, 2].map((n, i) => ({
    projectId: "01950000-0000-7000-8000-000000000001",
    metricKey: "sparse_metric",
    grain: "DAY",
    bucket: day(n),
    value: 3 + i,
  }));
  const written = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      query: "mutation($p: [TrendPointInput!]!) { upsertTrendPoints(points: $p) { inserted } }",
      variables: { p: points },
    }),
  }).then((r) => r.json());
  assert.equal(written.data?.upsertTrendPoints.inserted, 3, JSON.stringify(written));

  const page = await browser.context.newPage();
  await page.goto(`${server.url}/#metric=sparse_metric&range=7&fill=ZERO`);
  await page.locator("#trend-note", { hasText: "4 filled buckets (shaded)" }).waitFor();
  await page.locator("#trend-chart canvas").waitFor();
  // Leaving gaps out draws the three stored points only.
  const trend = answered(page, "DashboardTrend");
  await page.locator("#fill").selectOption("NONE");
  const body = await (await trend).json();
  assert.equal(body.data.project.trend.points.length, 3);
  await page.locator("#trend-note", { hasText: "no filled bucket" }).waitFor();
  await page.close();
});

test("bad states are shown: unknown project, empty series, a failing field, no server", async () => {
  const page = await browser.context.newPage();

  // An unknown project: said so, and the picker still lists the real ones.
  await page.goto(`${server.url}/#project=${NIL}`);
  await page.locator("#banner", { hasText: `Unknown project ${NIL}` }).waitFor();
  assert.ok(await page.locator("#project option", { hasText: "Atlas" }).count());

  // A metric with no stored point: no chart pretending to be data.
  await page.goto(`${server.url}/#metric=no_such_metric&fill=NONE`);
  await page.reload();
  await page.locator("#trend-chart .empty", { hasText: "No stored point of no_such_metric" }).waitFor();
  await page.locator("#drilldown-table tbody tr").first().waitFor();
  // With a fill, every bucket is marked filled.
  const trend = answered(page, "DashboardTrend");
  await page.locator("#fill").selectOption("ZERO");
  await trend;
  await page.locator("#trend-note", { hasText: "Every bucket is filled" }).waitFor();

  // One field fails while the others render: the trend panel shows the error, the rest
  // draws. (The answer is the server's own, with its trend replaced by a field error.)
  await page.route("**/graphql", async (route) => {
    const response = await route.fetch();
    const body = await response.json();
    const node = body.data.firstProject.edges[0].node;
    node.trend = null;
    body.errors = [
      { message: "trend exploded", path: ["firstProject", "edges", 0, "node", "trend"], extensions: { code: "INTERNAL" } },
    ];
    await route.fulfill({ response, json: body });
  });
  await page.goto(`${server.url}/#`);
  await page.reload();
  await page.locator("#trend-panel .panel-error", { hasText: "trend exploded [INTERNAL]" }).waitFor();
  await page.locator("#drilldown-table tbody tr").first().waitFor();
  await page.locator("#series-chart canvas").waitFor();
  assert.equal(await page.locator("#breakdown-panel .panel-error").isHidden(), true);
  await page.unroute("**/graphql");

  // The server unreachable.
  await page.route("**/graphql", (route) => route.abort("connectionrefused"));
  await page.locator("#metric").selectOption("wip");
  await page.locator("#banner", { hasText: "cannot be reached" }).waitFor();
  assert.equal(await page.locator("#request").innerText(), "Server unreachable");
  await page.close();
});

test("with auth on, the token is asked for and kept in session storage only", async () => {
  const secret = "browser-test-secret-of-at-least-32-bytes!";
  const secured = await startServer({ extraArgs: ["--jwt-secret", secret] });
  try {
    const page = await browser.context.newPage();
    await page.goto(`${secured.url}/`);
    await page.locator("#banner", { hasText: "wants a bearer token" }).waitFor();
    const whole = answered(page, "DashboardPage");
    await page.locator("#token").fill(mintToken(secret));
    await page.locator("#token-form button[type=submit]").click();
    await whole;
    await page.locator("#drilldown-table tbody tr").first().waitFor();
    assert.equal(await page.locator("#banner").isHidden(), true);
    const stored = await page.evaluate(() => ({
      session: sessionStorage.getItem("metrics-api.token"),
      local: JSON.stringify(localStorage),
    }));
    assert.match(stored.session ?? "", /^ey/);
    assert.doesNotMatch(stored.local, /ey[A-Za-z0-9_-]{10,}\./, "never in local storage");
    // GraphiQL in the same tab starts with the token in its headers.
    await page.goto(`${secured.url}/graphql`);
    await page.locator(".graphiql-execute-button").click();
    await page.locator(".graphiql-response").getByText('"Atlas"').first().waitFor();
    await page.close();
  } finally {
    secured.stop();
  }
});

test("serve --no-dashboard: no page at /", async () => {
  const plain = await startServer({ env: { NO_DASHBOARD: "true" } });
  try {
    const request = browser.context.request;
    assert.equal((await request.get(`${plain.url}/`)).status(), 404);
    const graphiql = await request.get(`${plain.url}/graphql`, { headers: { accept: "text/html" } });
    assert.equal(graphiql.status(), 200, "GraphiQL stays");
  } finally {
    plain.stop();
  }
});

test("live: a write to the shown project reloads its tiles", async () => {
  const errorsBefore = browser.consoleErrors.length;
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/`);
  await page.locator("#cards .card").first().waitFor();
  await page.locator("#live").getByText("live").waitFor();
  // Let the subscription be acknowledged and registered before writing.
  await page.waitForTimeout(500);
  const reloaded = answered(page, "DashboardPage");
  const mutation = `mutation($rows: [SummaryInput!]!) { recordSummaries(rows: $rows) { inserted } }`;
  const rows = [
    { projectId: "01950000-0000-7000-8000-000000000001", capturedAt: new Date().toISOString(), payload: { tasks: { open: 777 } } },
  ];
  const resp = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: mutation, variables: { rows } }),
  });
  assert.equal((await resp.json()).data.recordSummaries.inserted, 1);
  await reloaded;
  await page.locator("#cards").getByText("777", { exact: true }).waitFor({ timeout: 10000 });
  assert.deepEqual(browser.consoleErrors.slice(errorsBefore), [], "no console errors");
  assert.deepEqual(browser.blocked, [], "no request left 127.0.0.1");
  await page.close();
});
