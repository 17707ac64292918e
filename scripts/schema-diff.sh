#!/usr/bin/env bash
# Compares schema.graphql with its version at a git ref and fails on breaking changes
# (removed or retyped fields, arguments made required, removed defaults, added enum
# values: scripts/schema-gate-rules.cjs), with @graphql-inspector/cli. A review aid: CI's
# gate is scripts/schema-gate.sh, which compares with the committed baseline instead.
#
#   scripts/schema-diff.sh [REF]     REF defaults to origin/main, else HEAD~1
#
# Deprecate instead of removing: `#[graphql(deprecation = "use x instead")]` keeps the
# field (and the diff green) while telling clients to move.
set -euo pipefail
cd "$(dirname "$0")/.."

ref="${1:-}"
if [ -z "$ref" ]; then
  if git rev-parse --verify -q origin/main >/dev/null; then ref=origin/main; else ref=HEAD~1; fi
fi
if ! git cat-file -e "$ref:schema.graphql" 2>/dev/null; then
  echo "schema-diff: $ref has no schema.graphql; nothing to compare"
  exit 0
fi

old=$(mktemp --suffix=.graphql)
trap 'rm -f "$old"' EXIT
git show "$ref:schema.graphql" > "$old"

inspector=clients/typescript/node_modules/.bin/graphql-inspector
if [ ! -x "$inspector" ]; then
  (cd clients/typescript && npm ci --no-audit --no-fund >/dev/null)
fi
echo "schema-diff: schema.graphql against $ref"
"$inspector" diff "$old" schema.graphql --rule "$PWD/scripts/schema-gate-rules.cjs"
