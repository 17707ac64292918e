#!/usr/bin/env bash
# Vendors the browser libraries the binary serves (GraphiQL, React, ReactDOM, uPlot) from
# their npm packages into src/web/assets/vendor/, with their licences, and writes
# MANIFEST.json (name, version, licence, file, sha256 of each file as shipped in the npm
# tarball). Run it to upgrade a library: change a version below, run, commit the result.
# `--check` re-downloads and fails when a committed file differs from its package.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=src/web/assets/vendor

# package@version  file-in-package  name-served
files=(
  "graphiql@3.9.0 graphiql.min.js graphiql.min.js"
  "graphiql@3.9.0 graphiql.min.css graphiql.min.css"
  "react@18.3.1 umd/react.production.min.js react.production.min.js"
  "react-dom@18.3.1 umd/react-dom.production.min.js react-dom.production.min.js"
  "uplot@1.6.32 dist/uPlot.iife.min.js uPlot.iife.min.js"
  "uplot@1.6.32 dist/uPlot.min.css uPlot.min.css"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check=${1:-}
out="$tmp/out"
mkdir -p "$out/licenses"

for spec in $(printf '%s\n' "${files[@]}" | cut -d' ' -f1 | sort -u); do
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  name=${spec%@*}
  mkdir -p "$tmp/$spec"
  tar xzf "$tmp/$name-${spec##*@}.tgz" -C "$tmp/$spec"
  cp "$tmp/$spec/package/LICENSE" "$out/licenses/$name.LICENSE"
done

{
  echo '['
  first=1
  for line in "${files[@]}"; do
    read -r spec path served <<<"$line"
    name=${spec%@*}
    version=${spec##*@}
    cp "$tmp/$spec/package/$path" "$out/$served"
    license=$(node -p "require('$tmp/$spec/package/package.json').license")
    sha=$(sha256sum "$out/$served" | cut -d' ' -f1)
    [ $first = 1 ] || echo ','
    first=0
    printf '  {"name": "%s", "version": "%s", "license": "%s", "licenseFile": "licenses/%s.LICENSE", "packagePath": "%s", "file": "%s", "sha256": "%s"}' \
      "$name" "$version" "$license" "$name" "$path" "$served" "$sha"
  done
  echo
  echo ']'
} >"$out/MANIFEST.json"

if [ "$check" = --check ]; then
  diff -r "$out" "$dest" && echo "vendored files match their npm packages"
else
  rm -rf "$dest"
  mkdir -p "$dest"
  cp -r "$out"/. "$dest"/
  echo "vendored into $dest:"
  cat "$dest/MANIFEST.json"
fi
