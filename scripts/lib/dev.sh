# shellcheck shell=bash
# Sourced by run.sh and bootstrap_dev.sh: the development database and the generated keys.
# shellcheck source=postgres.sh
source "$(dirname "${BASH_SOURCE[0]}")/postgres.sh"

# Sets DATABASE_URL (DATABASE_URL when it answers, else database crypto_saas on the server
# ensure_postgres finds or starts), DATABASE_CHOICE (why that one) and DATABASE_DATA_DIR.
choose_database() {
  if [ -n "${DATABASE_URL:-}" ] && pg_answers "$DATABASE_URL"; then
    DATABASE_CHOICE="DATABASE_URL from the environment"
  else
    local server
    server="$(ensure_postgres)"
    psql "$server" -qtAc "SELECT 1 FROM pg_database WHERE datname = 'crypto_saas'" | grep -q 1 \
      || psql "$server" -qc "CREATE DATABASE crypto_saas"
    DATABASE_URL="${server%/*}/crypto_saas"
    DATABASE_CHOICE="database crypto_saas on the PostgreSQL server at ${server%/*}"
    [ -n "${DATABASE_URL_WAS_SET:-}" ] && DATABASE_CHOICE="$DATABASE_CHOICE (DATABASE_URL did not answer)"
  fi
  export DATABASE_URL
  # Only a superuser (or pg_read_all_settings) may see where the cluster keeps its files.
  DATABASE_DATA_DIR="$(psql "$DATABASE_URL" -qtAXc 'SHOW data_directory' 2>/dev/null || true)"
  DATABASE_DATA_DIR="${DATABASE_DATA_DIR:-(not visible to this database role)}"
}

# ensure_dev_env FILE: generates SECRET_KEY, ENCRYPTION_KEY and DEV_ADMIN_PASSWORD once (mode 600),
# then exports what FILE holds.
ensure_dev_env() {
  local file="$1"
  if [ ! -f "$file" ]; then
    mkdir -p "$(dirname "$file")"
    (
      umask 077
      {
        echo "SECRET_KEY=$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
        echo "ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
        echo "DEV_ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=\n')"
      } >"$file"
    )
    # shellcheck disable=SC2034 # read by bootstrap_dev.sh
    DEV_ENV_CREATED=1
  fi
  set -a
  # shellcheck disable=SC1090
  source "$file"
  set +a
}

# Prints a URL with its password hidden.
shown_url() { printf '%s' "$1" | sed -E 's#(://[^:/@]*):[^@]*@#\1:<redacted>@#'; }
