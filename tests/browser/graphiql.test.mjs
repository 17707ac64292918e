// GraphiQL from the binary in a real browser (issue 13): it loads with every request
// outside 127.0.0.1 blocked, runs its default query, keeps it in its history, and its
// docs explorer reads the schema. (Variables and headers: dashboard.test.mjs opens
// GraphiQL on an operation with variables, and with a token.)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { launch, shots, startServer } from "./harness.mjs";

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

test("GraphiQL runs its default query offline and documents the schema", async () => {
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/graphql`);
  await page.locator(".graphiql-container").waitFor();
  // The default query covers the 30 days before today (the request time).
  const today = new Date().toISOString().slice(0, 10);
  await page.locator(".graphiql-query-editor").getByText(`${today}T00:00:00Z`).first().waitFor();

  await page.locator(".graphiql-execute-button").click();
  const result = page.locator(".graphiql-response");
  await result.getByText('"projectList"').waitFor();
  await result.getByText('"Atlas"').first().waitFor();
  assert.doesNotMatch(await result.innerText(), /"errors"/);

  // The run is in the history.
  await page.getByRole("button", { name: /Show History/i }).click();
  await page.locator(".graphiql-history").getByText("Dashboard").first().waitFor();

  await page.getByRole("button", { name: /Show Documentation Explorer/i }).click();
  const docs = page.locator(".graphiql-doc-explorer");
  await docs.getByText("Query", { exact: true }).first().waitFor();
  // "All Schema Types" lists Project; its page lists its fields.
  await docs.getByText("Project", { exact: true }).click();
  await docs.locator(".graphiql-doc-explorer-title").getByText("Project", { exact: true }).waitFor();
  await docs.getByText("trendsMatching", { exact: true }).waitFor();

  await page.screenshot({ path: join(shots, "graphiql.png") });
  assert.deepEqual(browser.blocked, [], "no request left 127.0.0.1");
});

test("GraphiQL runs a subscription: SUBSCRIBED, then UPDATED when a write commits", async () => {
  const page = await browser.context.newPage();
  const projectIds = ["00000000-0000-0000-0000-0000000000aa"];
  const query = "subscription Live($p: [UUID!]!) { metricsUpdated(projectIds: $p) { kind changes { metricKey buckets } } }";
  const hash = new URLSearchParams({ query, variables: JSON.stringify({ p: projectIds }) });
  await page.goto(`${server.url}/graphql#${hash}`);
  await page.locator(".graphiql-query-editor").getByText("metricsUpdated").first().waitFor();
  await page.locator(".graphiql-execute-button").click();
  const result = page.locator(".graphiql-response");
  await result.getByText('"SUBSCRIBED"').waitFor();

  const write = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      query: "mutation($p: [TrendPointInput!]!) { upsertTrendPoints(points: $p) { inserted } }",
      variables: { p: [{ projectId: projectIds[0], metricKey: "live_check", grain: "DAY", bucket: "2024-03-01T00:00:00Z", value: 1 }] },
    }),
  });
  assert.equal((await write.json()).data.upsertTrendPoints.inserted, 1);
  await result.getByText('"UPDATED"').waitFor();
  await result.getByText('"live_check"').waitFor();
  assert.deepEqual(browser.blocked, [], "no request left 127.0.0.1");
});
