#!/usr/bin/env bash
# Starts the daemon on a fresh machine: a working local database (DATABASE_URL when it answers,
# else a local PostgreSQL), keys generated once into .local/dev.env, a development admin, and
# instructions to log in. `serve` migrates (once) and creates the admin. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/dev.sh
source scripts/lib/dev.sh
DATABASE_URL_WAS_SET="${DATABASE_URL:-}"

choose_database
echo "database: $DATABASE_CHOICE"
echo "  url:  $(shown_url "$DATABASE_URL")"
echo "  data: $DATABASE_DATA_DIR"
env_file="${DEV_ENV_FILE:-.local/dev.env}"
ensure_dev_env "$env_file"

if [ -n "${CRYPTO_SAAS_BIN:-}" ]; then
  bin="$CRYPTO_SAAS_BIN"
else
  cargo build --release --bin crypto-saas
  bin=target/release/crypto-saas
fi
admin_email="${DEV_ADMIN_EMAIL:-admin@crypto-saas.local}"
# The daemon creates this admin at start-up (or leaves an existing one as it is).
export BOOTSTRAP_ADMIN_EMAIL="$admin_email" BOOTSTRAP_ADMIN_PASSWORD="$DEV_ADMIN_PASSWORD"
host="${HOST:-127.0.0.1}" port="${PORT:-8000}"
cat <<MSG

crypto-saas on http://$host:$port  (API docs: /docs, dashboard: /ops/dashboard)
log in as the development admin $admin_email (its password is DEV_ADMIN_PASSWORD in $env_file):
  curl -s -X POST http://$host:$port/auth/login -d "username=$admin_email" \\
    --data-urlencode "password=\$(sed -n 's/^DEV_ADMIN_PASSWORD=//p' $env_file)"

MSG
exec "$bin" serve
