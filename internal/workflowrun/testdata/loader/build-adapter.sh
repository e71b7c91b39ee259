#!/usr/bin/env bash
# The loader project's adapter build (adapter-build): a stand-in third-party
# adapter, perfconform's adapters/testdata/thirdparty, built from the
# perfconform checkout the reusable workflow puts beside this repository. It
# declares "loader":"myloader"; the file is named after $1 (perfconform-adapter).
set -euo pipefail
out="$PWD/$1"
mkdir -p "$(dirname "$out")"
cd "$GITHUB_WORKSPACE/perfconform"
CGO_ENABLED=0 go build -trimpath -o "$out" ./adapters/testdata/thirdparty
