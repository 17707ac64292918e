// The contract between schema.graphql, the running server and the GraphQL over HTTP spec:
// the committed SDL is exactly what the server introspects, and graphql-http's server
// audits find no MUST failure, and no SHOULD or MAY failure that docs/FRONTEND.md does
// not list with its reason.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import {
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  lexicographicSortSchema,
  printSchema,
  type IntrospectionQuery,
} from "graphql";
import { auditServer } from "graphql-http";
import { startServer, type RunningServer } from "./server.js";

const root = resolve(import.meta.dirname, "../../../..");
const schemaFile = process.env.METRICS_API_SCHEMA ?? resolve(root, "schema.graphql");
let server: RunningServer;

before(async () => {
  server = await startServer();
});

after(() => {
  server?.stop();
});

test("the committed SDL is what the server introspects", async () => {
  const query = getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, inputValueDeprecation: true });
  const res = await fetch(`${server.origin}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query }),
  });
  const body = (await res.json()) as { data?: IntrospectionQuery; errors?: unknown };
  assert.ok(body.data, `introspection answered ${JSON.stringify(body.errors)}`);
  const served = printSchema(lexicographicSortSchema(buildClientSchema(body.data)));
  const committed = printSchema(lexicographicSortSchema(buildSchema(readFileSync(schemaFile, "utf8"))));
  assert.ok(committed === served, lineDiff(committed, served));
});

/// The lines only one side has, for a readable failure.
function lineDiff(committed: string, served: string): string {
  const a = committed.split("\n");
  const b = served.split("\n");
  const only = (xs: string[], ys: string[]) => xs.filter((x) => !ys.includes(x)).map((x) => `  ${x.trim()}`);
  return [`only in ${schemaFile}:`, ...only(a, b), "only in the server's introspection:", ...only(b, a)].join("\n");
}

/// The audit ids docs/FRONTEND.md lists as accepted failures: table rows `| \`ID\` | ...`
/// between the conformance section's markers.
function documentedFailures(): Set<string> {
  const doc = readFileSync(resolve(root, "docs/FRONTEND.md"), "utf8");
  const start = doc.indexOf("<!-- audit-failures:start -->");
  const end = doc.indexOf("<!-- audit-failures:end -->");
  assert.ok(start >= 0 && end > start, "docs/FRONTEND.md has the audit-failures markers");
  const ids = [...doc.slice(start, end).matchAll(/^\|\s*`([0-9A-F]{4})`\s*\|/gm)].map((m) => m[1]!);
  return new Set(ids);
}

test("graphql-http's server audits: no MUST failure, every other failure documented", async () => {
  const results = await auditServer({ url: `${server.origin}/graphql` });
  assert.ok(results.length > 40, `the audit ran (${results.length} audits)`);
  const failed = results.filter((r) => r.status !== "ok");
  const must = failed.filter((r) => r.name.startsWith("MUST"));
  assert.deepEqual(
    must.map((r) => `${r.id} ${r.name}: ${"reason" in r ? r.reason : ""}`),
    [],
    "MUST audits failed",
  );
  const documented = documentedFailures();
  const undocumented = failed.filter((r) => !documented.has(r.id)).map((r) => `${r.id} ${r.name}`);
  assert.deepEqual(undocumented, [], "SHOULD/MAY failures missing from docs/FRONTEND.md");
  const stale = [...documented].filter((id) => !failed.some((r) => r.id === id));
  assert.deepEqual(stale, [], "docs/FRONTEND.md lists audits that now pass: remove them");
});
