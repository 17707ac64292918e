// The breaking-change gate (scripts/schema-gate.sh) on temporary copies of the repository's
// schema files, in a throwaway git repository: it must fail on a field removed two commits
// back, a removed default and an added enum value, must pass an additive change, and must
// refuse a baseline moved without a CHANGELOG.md entry.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, appendFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Kind, parse, print, visit, type DocumentNode } from "graphql";

const root = resolve(import.meta.dirname, "../../../..");
const inspector = resolve(root, "clients/typescript/node_modules/.bin/graphql-inspector");

/// A git repository holding the gate, its rules, schema.graphql, the baseline and the
/// changelog, copied from this repository and committed once.
function sandbox(): string {
  const dir = mkdtempSync(join(tmpdir(), "schema-gate-"));
  mkdirSync(join(dir, "scripts"));
  for (const f of ["scripts/schema-gate.sh", "scripts/schema-gate-rules.cjs", "schema.graphql", "schema.baseline.graphql", "CHANGELOG.md"]) {
    copyFileSync(join(root, f), join(dir, f));
  }
  git(dir, "init", "-q");
  commitAll(dir, "baseline");
  return dir;
}

function git(dir: string, ...args: string[]): string {
  return execFileSync("git", ["-c", "user.name=gate", "-c", "user.email=gate@test", ...args], { cwd: dir, encoding: "utf8" });
}

function commitAll(dir: string, message: string) {
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", message);
}

function gate(dir: string): { ok: boolean; output: string } {
  const r = spawnSync("bash", ["scripts/schema-gate.sh"], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, GRAPHQL_INSPECTOR: inspector, NO_COLOR: "1", FORCE_COLOR: "0" },
  });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

/// Rewrites dir/schema.graphql through a graphql-js AST edit.
function editSchema(dir: string, edit: (doc: DocumentNode) => DocumentNode) {
  const file = join(dir, "schema.graphql");
  writeFileSync(file, print(edit(parse(readFileSync(file, "utf8")))));
}

function removeField(type: string, field: string) {
  return (doc: DocumentNode) =>
    visit(doc, {
      ObjectTypeDefinition(node) {
        if (node.name.value !== type) return undefined;
        const fields = node.fields?.filter((f) => f.name.value !== field);
        assert.notEqual(fields?.length, node.fields?.length, `${type}.${field} exists in schema.graphql`);
        return { ...node, fields };
      },
    });
}

test("an unchanged schema passes", () => {
  const r = gate(sandbox());
  assert.ok(r.ok, r.output);
});

test("a field removed two commits back still fails the gate", () => {
  const dir = sandbox();
  editSchema(dir, removeField("Project", "name"));
  commitAll(dir, "remove Project.name");
  writeFileSync(join(dir, "NOTES.md"), "an unrelated change\n");
  commitAll(dir, "unrelated");
  // The old check (the previous commit's schema) sees nothing here...
  const previous = join(dir, "previous.graphql");
  writeFileSync(previous, git(dir, "show", "HEAD~1:schema.graphql"));
  const old = spawnSync(inspector, ["diff", previous, join(dir, "schema.graphql")], { encoding: "utf8" });
  assert.equal(old.status, 0, "the HEAD~1 diff passes: that is the leak the baseline closes");
  // ...the baseline does.
  const r = gate(dir);
  assert.ok(!r.ok, r.output);
  assert.match(r.output, /✖ +Field name was removed from object type Project/);
});

test("a removed default fails the gate", () => {
  const dir = sandbox();
  let removed = "";
  editSchema(dir, (doc) =>
    visit(doc, {
      InputValueDefinition(node) {
        if (removed || !node.defaultValue) return undefined;
        removed = node.name.value;
        return { ...node, defaultValue: undefined };
      },
    }),
  );
  assert.ok(removed, "schema.graphql has an argument with a default");
  const r = gate(dir);
  assert.ok(!r.ok, r.output);
  assert.match(r.output, new RegExp(`✖ +Default value for argument ${removed} on field \\S+ changed from \\S+ to undefined`));
  assert.match(r.output, /Detected \d+ breaking change/);
});

test("an added enum value fails the gate", () => {
  const dir = sandbox();
  editSchema(dir, (doc) =>
    visit(doc, {
      EnumTypeDefinition(node) {
        if (node.name.value !== "TimeGrain") return undefined;
        const added = { kind: Kind.ENUM_VALUE_DEFINITION, name: { kind: Kind.NAME, value: "QUARTER" }, description: { kind: Kind.STRING, value: "Calendar quarters." } } as const;
        return { ...node, values: [...(node.values ?? []), added] };
      },
    }),
  );
  const r = gate(dir);
  assert.ok(!r.ok, r.output);
  assert.match(r.output, /✖ +Enum value QUARTER was added to enum TimeGrain/);
});

test("an added nullable field passes", () => {
  const dir = sandbox();
  editSchema(dir, (doc) =>
    visit(doc, {
      ObjectTypeDefinition(node) {
        if (node.name.value !== "Project") return undefined;
        const field = parse(`type T { "A new field." color: String }`).definitions[0];
        assert.equal(field?.kind, Kind.OBJECT_TYPE_DEFINITION);
        return { ...node, fields: [...(node.fields ?? []), ...(field.fields ?? [])] };
      },
    }),
  );
  const r = gate(dir);
  assert.ok(r.ok, r.output);
});

test("the baseline moves only with a CHANGELOG.md entry carrying its hash", () => {
  const dir = sandbox();
  editSchema(dir, removeField("Project", "name"));
  copyFileSync(join(dir, "schema.graphql"), join(dir, "schema.baseline.graphql"));
  const silent = gate(dir);
  assert.ok(!silent.ok, silent.output);
  assert.match(silent.output, /without a CHANGELOG\.md entry/);
  const hash = createHash("sha256").update(readFileSync(join(dir, "schema.baseline.graphql"))).digest("hex");
  appendFileSync(join(dir, "CHANGELOG.md"), `\n- Removed Project.name. Baseline sha256: ${hash}\n`);
  const announced = gate(dir);
  assert.ok(announced.ok, announced.output);
});
