#!/usr/bin/env bash
# The breaking-change gate CI runs: schema.graphql against the committed baseline
# schema.baseline.graphql, with graphql-inspector plus scripts/schema-gate-rules.cjs
# (a removed default and an added enum value are breaking too).
#
#   scripts/schema-gate.sh
#
# Comparing with a committed baseline, not with the previous commit, means a breaking
# change stays caught however many commits follow it. Moving the baseline is the one
# deliberate way to ship a breaking change: copy schema.graphql over
# schema.baseline.graphql and add a CHANGELOG.md entry that says what broke and carries
# the new baseline's `sha256sum` (the gate checks that line, so the baseline cannot move
# silently).
#
# GRAPHQL_INSPECTOR overrides the inspector binary (default: the TypeScript client's,
# installed with npm ci when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

baseline=schema.baseline.graphql
schema=schema.graphql
for f in "$baseline" "$schema" CHANGELOG.md; do
  [ -f "$f" ] || { echo "schema-gate: $f is missing" >&2; exit 1; }
done

hash=$(sha256sum "$baseline" | cut -d' ' -f1)
if ! grep -q "$hash" CHANGELOG.md; then
  echo "schema-gate: $baseline changed (sha256 $hash) without a CHANGELOG.md entry carrying that hash." >&2
  echo "schema-gate: a new baseline is a deliberate, announced change: describe it in CHANGELOG.md." >&2
  exit 1
fi

inspector="${GRAPHQL_INSPECTOR:-clients/typescript/node_modules/.bin/graphql-inspector}"
if [ ! -x "$inspector" ]; then
  (cd clients/typescript && npm ci --no-audit --no-fund >/dev/null)
fi
echo "schema-gate: $schema against $baseline"
"$inspector" diff "$baseline" "$schema" --rule "$PWD/scripts/schema-gate-rules.cjs"
