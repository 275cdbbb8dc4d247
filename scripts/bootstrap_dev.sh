#!/usr/bin/env bash
# Prepares a development machine: checks the tools, chooses (or starts) PostgreSQL and creates
# the crypto_saas database, generates the development keys once (DEV_ENV_FILE, default
# .local/dev.env), builds the daemon (or uses CRYPTO_SAAS_BIN), migrates and checks the
# configuration. Then: scripts/run.sh, and scripts/run_scenario.sh against it.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/ops.sh
source scripts/lib/ops.sh
# shellcheck source=lib/dev.sh
# shellcheck source=lib/dev.sh
source scripts/lib/dev.sh
DATABASE_URL_WAS_SET="${DATABASE_URL:-}"
DEV_ENV_FILE="${DEV_ENV_FILE:-.local/dev.env}"

echo "== Bootstrap Dev =="

section A "Tools"
for tool in curl python3 psql pg_dump; do
  if command -v "$tool" >/dev/null 2>&1; then pass "$tool found"; else fail "$tool missing (install it first)"; fi
done
if [ -z "${CRYPTO_SAAS_BIN:-}" ]; then
  if command -v cargo >/dev/null 2>&1; then pass "cargo found"; else fail "cargo missing (https://rustup.rs)"; fi
fi
[ "$OPS_FAIL" -eq 0 ] || ops_finish

section B "Database"
if choose_database >"$OPS_TMP/db.log" 2>&1; then
  pass "database: $DATABASE_CHOICE, url $(shown_url "$DATABASE_URL"), data in $DATABASE_DATA_DIR"
else
  fail "no PostgreSQL available: $(tail -n 3 "$OPS_TMP/db.log" | tr '\n' ' ')"
  ops_finish
fi

section C "Keys"
DEV_ENV_CREATED=""
ensure_dev_env "$DEV_ENV_FILE"
if [ -n "$DEV_ENV_CREATED" ]; then
  pass "generated SECRET_KEY, ENCRYPTION_KEY and DEV_ADMIN_PASSWORD into $DEV_ENV_FILE (mode 600)"
else
  pass "keys kept from $DEV_ENV_FILE"
fi

section D "Build and migrate"
if [ -n "${CRYPTO_SAAS_BIN:-}" ]; then
  bin="$CRYPTO_SAAS_BIN"
  pass "using $bin"
elif cargo build --release --bin crypto-saas; then
  bin=target/release/crypto-saas
  pass "built $bin"
else
  fail "cargo build failed"
  ops_finish
fi
if out="$("$bin" migrate 2>&1)"; then pass "$out"; else fail "migrate failed: $out"; fi
if "$bin" config check >"$OPS_TMP/config.txt" 2>&1; then
  pass "configuration OK (crypto-saas config check)"
else
  fail "configuration has problems: $(grep '^error' "$OPS_TMP/config.txt" | tr '\n' ' ')"
fi

echo
echo "Next: scripts/run.sh (serves on http://${HOST:-127.0.0.1}:${PORT:-8000}), then"
echo "      BASE=http://${HOST:-127.0.0.1}:${PORT:-8000} scripts/run_scenario.sh"
ops_finish
