#!/usr/bin/env bash
# The soak (issue 21): builds the daemon and the load generator (release), starts a private
# PostgreSQL cluster with PostgreSQL's defaults (initdb into a temporary directory, a free
# loopback port, autovacuum on), starts the daemon on loopback against it, and runs
# `loadgen --soak`: mixed traffic from many traders for --minutes (default 10), a line per route
# each minute, then the verdict (no errors, flat VmRSS, each route's p99 in the last minute
# within 2x of the first). Everything started here is stopped and removed on exit.
#
#   scripts/soak.sh                         # 10 minutes, 8192 traders at 64 desks
#   scripts/soak.sh --minutes 2 --soak-users 2048
#
# Extra arguments go to the load generator (`target/release/loadgen --help`). Results:
# target/soak/soak.json, target/soak/soak.md and target/soak/report.md (the machine, the date,
# the commit, then soak.md). Exit status: 0 target held, 3 not held, other: the run failed.
# SOAK_PROFILE=debug uses debug builds (a quick check of the script only: numbers mean nothing);
# SOAK_BUILD=0 runs the binaries already built; DAEMON_ENV="DB_WRITE_SHARDS=4 ..." adds daemon settings.
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${SOAK_PROFILE:-release}"
case "$profile" in
  release) cargo_flags=(--release) ;;
  debug) cargo_flags=() ;;
  *) echo "SOAK_PROFILE must be release or debug" >&2; exit 2 ;;
esac
if [ "${SOAK_BUILD:-1}" != 0 ]; then cargo build "${cargo_flags[@]}" -p crypto-saas -p loadgen; fi
bin="target/$profile/crypto-saas"
loadgen="target/$profile/loadgen"
out_dir="target/soak"
mkdir -p "$out_dir"

initdb="$(find /usr/lib/postgresql -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n1)"
[ -n "$initdb" ] || { echo "no PostgreSQL server binaries under /usr/lib/postgresql" >&2; exit 1; }
pg_bin="$(dirname "$initdb")"
command -v psql >/dev/null || { echo "psql is missing: install postgresql-client" >&2; exit 1; }

pg_dir="$(mktemp -d /tmp/cs-soak-pg.XXXXXX)"
run_as=()
if [ "$(id -u)" = 0 ]; then
  # PostgreSQL refuses to run as root.
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$pg_dir"
  run_as=(runuser -u postgres --)
fi

daemon_pid=""
# shellcheck disable=SC2329 # run by the EXIT trap below
cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$daemon_pid" 2>/dev/null || true
  fi
  if [ -f "$pg_dir/data/postmaster.pid" ]; then
    "${run_as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$pg_dir"
}
trap cleanup EXIT

# A free loopback port: one nothing answers on (bash's /dev/tcp connects or fails at once).
port=""
for _ in $(seq 1 50); do
  candidate=$((20000 + RANDOM % 40000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then port="$candidate"; break; fi
done
[ -n "$port" ] || { echo "no free port found" >&2; exit 1; }

mkdir -p "$pg_dir/data" "$pg_dir/socket"
if [ "$(id -u)" = 0 ]; then chown postgres "$pg_dir/data" "$pg_dir/socket"; fi
"${run_as[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust >/dev/null
# PostgreSQL's defaults (autovacuum, fsync, shared_buffers…): only where it listens is set.
"${run_as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
  -o "-p $port -c listen_addresses=127.0.0.1 -k $pg_dir/socket" start >/dev/null
server="postgres://postgres@127.0.0.1:$port/postgres"
psql "$server" -qc "CREATE DATABASE soak"
database_url="postgres://postgres@127.0.0.1:$port/soak"
echo "private PostgreSQL $("$pg_bin/postgres" --version | awk '{print $NF}') on port $port" \
  "(autovacuum $(psql "$server" -Atc 'SHOW autovacuum'), fsync $(psql "$server" -Atc 'SHOW fsync'))" >&2

secret_key="$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
encryption_key="$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
log="$out_dir/daemon.log"
: >"$log"
ulimit -n 65536 2>/dev/null || true
# Port 0: the daemon picks a free port and prints it. Upstreams point at a closed loopback port
# so nothing leaves the machine.
# shellcheck disable=SC2086
env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
  DATABASE_URL="$database_url" SECRET_KEY="$secret_key" ENCRYPTION_KEY="$encryption_key" \
  HOST=127.0.0.1 PORT=0 LOG_LEVEL=warn \
  BINANCE_TESTNET_BASE_URL=http://127.0.0.1:9 TELEGRAM_API_BASE_URL=http://127.0.0.1:9 \
  ${DAEMON_ENV:-} \
  "$bin" serve >"$log" 2>&1 &
daemon_pid=$!
base=""
for _ in $(seq 1 200); do
  base="$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$log" | head -n1 || true)"
  [ -n "$base" ] && break
  kill -0 "$daemon_pid" 2>/dev/null || { echo "the daemon exited:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$base" ] || { echo "the daemon did not report its port" >&2; cat "$log" >&2; exit 1; }
echo "daemon $daemon_pid on $base" >&2
sleep 1

started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
status=0
SECRET_KEY="$secret_key" DATABASE_URL="$database_url" \
  "$loadgen" --soak --base-url "$base" --daemon-bin "$bin" --daemon-pid "$daemon_pid" \
  --concurrency 64 --out "$out_dir" "$@" || status=$?
[ "$status" = 0 ] || [ "$status" = 3 ] || { echo "the soak failed (exit $status)" >&2; exit "$status"; }

{
  echo "# Soak report"
  echo
  echo "- started: $started; commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "- machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM, $(uname -sr)"
  echo "- load average before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- PostgreSQL: private cluster, $("$pg_bin/postgres" --version), defaults (autovacuum $(psql "$server" -Atc 'SHOW autovacuum'), fsync $(psql "$server" -Atc 'SHOW fsync'), shared_buffers $(psql "$server" -Atc 'SHOW shared_buffers'))"
  echo "- daemon: $profile build, ${DAEMON_ENV:-default settings}"
  echo
  sed '1,2d' "$out_dir/soak.md"
} >"$out_dir/report.md"
echo "wrote $out_dir/report.md" >&2
exit "$status"
