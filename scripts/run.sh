#!/usr/bin/env bash
# Starts the daemon on a fresh machine: a working local database (DATABASE_URL when it answers,
# else a local PostgreSQL), keys generated once into .local/dev.env, migrations, a development
# admin, and instructions to log in. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh
mkdir -p .local

if [ -n "${DATABASE_URL:-}" ] && pg_answers "$DATABASE_URL"; then
  echo "using DATABASE_URL"
else
  server="$(ensure_postgres)"
  psql "$server" -qtAc "SELECT 1 FROM pg_database WHERE datname = 'crypto_saas'" | grep -q 1 \
    || psql "$server" -qc "CREATE DATABASE crypto_saas"
  export DATABASE_URL="${server%/*}/crypto_saas"
fi

if [ ! -f .local/dev.env ]; then
  {
    echo "SECRET_KEY=$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
    echo "ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
    echo "DEV_ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=\n')"
  } > .local/dev.env
  chmod 600 .local/dev.env
fi
set -a; source .local/dev.env; set +a
export SECRET_KEY="${SECRET_KEY}" ENCRYPTION_KEY="${ENCRYPTION_KEY}"

cargo build --release --bin crypto-saas
bin=target/release/crypto-saas
"$bin" migrate
admin_email="${DEV_ADMIN_EMAIL:-admin@crypto-saas.local}"
if printf '%s\n' "$DEV_ADMIN_PASSWORD" | "$bin" admin create --email "$admin_email" --password-stdin >/dev/null 2>&1; then
  echo "created the development admin"
fi
host="${HOST:-127.0.0.1}" port="${PORT:-8000}"
cat <<MSG

crypto-saas on http://$host:$port  (API docs: /docs, dashboard: /ops/dashboard)
log in as the development admin:
  curl -s -X POST http://$host:$port/auth/login -d "username=$admin_email" --data-urlencode "password=$DEV_ADMIN_PASSWORD"
(the password is kept in .local/dev.env)

MSG
exec "$bin" serve
