#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: provisions PostgreSQL (and the browser the
# dashboard test drives, the reverse proxies the deployment test puts in front of two daemons,
# and the schemathesis fuzzer tests/fuzz.rs runs), then every unit, property and integration
# test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh
source scripts/lib/pytools.sh

TEST_DATABASE_URL="$(ensure_postgres)"
export TEST_DATABASE_URL
echo "test databases on ${TEST_DATABASE_URL%/*}/…"

if [ -x scripts/lib/browser.sh ]; then scripts/lib/browser.sh; fi
if [ -x scripts/lib/proxy.sh ]; then scripts/lib/proxy.sh; fi
ensure_pytools

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
