# shellcheck shell=bash disable=SC2012 # ls lists version directories (plain numbers) for sort -V
# Sourced by the scripts: makes sure a PostgreSQL server answers and prints its admin URL.
# Order: $DATABASE_SERVER_URL (default the local server on 5432) when it answers; the system
# cluster, started; else a project-local cluster under .local/pg started with the system's
# binaries (installed from Debian when absent and we are root).

pg_answers() { psql "$1" -qtAc 'select 1' >/dev/null 2>&1; }

ensure_postgres() {
  local url="${DATABASE_SERVER_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  local root; root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  if ! command -v psql >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing the PostgreSQL client…" >&2
      (apt-get update -qq && apt-get install -y -qq postgresql-client) >&2
    else
      echo "psql is missing: install postgresql-client" >&2; return 1
    fi
  fi
  if pg_answers "$url"; then echo "$url"; return 0; fi
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    local version; version="$(ls /etc/postgresql | sort -V | tail -n1)"
    echo "starting the system PostgreSQL cluster $version/main…" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 2>&1 || true
    for _ in $(seq 1 20); do pg_answers "$url" && { echo "$url"; return 0; }; sleep 0.5; done
  fi
  local initdb; initdb="$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1)"
  if [ -z "$initdb" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing PostgreSQL…" >&2
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
      initdb="$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)"
    else
      echo "no reachable PostgreSQL and none installed: set DATABASE_SERVER_URL" >&2; return 1
    fi
  fi
  local bin; bin="$(dirname "$initdb")"
  local data="$root/.local/pg" port=55432
  local local_url="postgres://postgres@127.0.0.1:$port/postgres"
  if pg_answers "$local_url"; then echo "$local_url"; return 0; fi
  mkdir -p "$root/.local"
  local run_as=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    mkdir -p "$data" && chown postgres "$data" && chmod 700 "$data"
    run_as=(runuser -u postgres --)
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    echo "creating a project-local PostgreSQL cluster in $data…" >&2
    "${run_as[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust >/dev/null
  fi
  "${run_as[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-p $port -c listen_addresses=127.0.0.1 -k /tmp -c max_connections=300" start >&2
  echo "$local_url"
}
