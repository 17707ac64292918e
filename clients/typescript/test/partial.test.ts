// A partial-error response, as a client that keeps partial data sees it: the failing
// widget is null with its error at its path, the other widget is there, and the data
// has the shape the generated types promise, checked at run time (src/validate.ts).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { metricsClient } from "../src/client.js";
import { PartialProjectDocument, type PartialProjectQuery } from "../src/gql/graphql.js";
import { loadSchema, shapeProblems } from "../src/validate.js";
import { startServer, type RunningServer } from "./server.js";

const schemaFile = process.env.METRICS_API_SCHEMA ?? resolve(import.meta.dirname, "../../../../schema.graphql");
let server: RunningServer;

before(async () => {
  server = await startServer();
});

after(() => {
  server?.stop();
});

test("a failing widget is null next to the ones that work, in the generated types' shape", async () => {
  const api = metricsClient(`${server.origin}/graphql`);
  const to = new Date();
  to.setUTCHours(0, 0, 0, 0);
  const from = new Date(to.getTime() - 7 * 86_400_000);
  const id = "01950000-0000-7000-8000-000000000001";
  const variables = { id, from: from.toISOString(), to: to.toISOString() };
  const { data, errors } = await api.partialProject(variables.id, variables.from, variables.to);

  // Typed access as a client writes it: `bad` is `... | null`, `good` usable.
  const project: PartialProjectQuery["project"] = data.project;
  assert.ok(project, "the project itself is there");
  assert.equal(project.bad, null, "the failing widget is null, not missing");
  assert.ok("bad" in project, "the key is present");
  assert.equal(project.good?.points.length, 7);
  assert.ok((project.good?.storedPoints ?? 0) > 0, "stored points back the series");
  assert.deepEqual(Object.keys(project), ["name", "good", "bad", "id"], "fields in request order");
  assert.equal(errors?.length, 1);
  assert.deepEqual(errors?.[0]?.path, ["project", "bad"]);
  assert.equal(errors?.[0]?.extensions?.code, "BAD_USER_INPUT");

  const problems = await shapeProblems(loadSchema(schemaFile), PartialProjectDocument, variables, data);
  assert.deepEqual(problems, [], "the data matches the schema the types were generated from");
});

test("the runtime check catches data that breaks the types", async () => {
  const schema = loadSchema(schemaFile);
  const variables = { id: "x", from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z" };
  // A missing key (what the server sent before null propagation was fixed) ...
  const missing = { project: { name: "Atlas", good: null, id: "x" } };
  assert.notDeepEqual(await shapeProblems(schema, PartialProjectDocument, variables, missing), []);
  // ... and a null where the schema says non-null.
  const nulls = { project: { name: "Atlas", good: { storedPoints: null, points: [] }, bad: null, id: "x" } };
  const problems = await shapeProblems(schema, PartialProjectDocument, variables, nulls);
  assert.ok(problems.some((p) => p.includes("Cannot return null for non-nullable field")), problems.join("\n"));
});
