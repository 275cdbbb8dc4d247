#!/usr/bin/env bash
# Load test on a fresh database: builds the daemon and the load generator (release), starts the
# daemon on a free loopback port with freshly generated SECRET_KEY/ENCRYPTION_KEY, runs the load
# generator against it, stops the daemon and drops the database. Results:
# target/loadgen/results.json and target/loadgen/results.md.
#
#   scripts/loadtest.sh                                   # every scenario, 10 s each, 32 clients
#   scripts/loadtest.sh --duration 5 --scenarios health,create_signal
#
# Extra arguments go to the load generator (`cargo run -p loadgen -- --help` lists them).
# LOADTEST_PROFILE=debug uses debug builds (quick checks only: numbers mean nothing);
# KEEP_DB=1 keeps the database for inspection; DAEMON_ENV="DB_WRITE_SHARDS=8 ..." adds daemon settings;
# DAEMON_BIN=path runs that daemon binary instead of this build's (A/B runs against an older build);
# LOADGEN_BIN=path does the same for the load generator.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh

profile="${LOADTEST_PROFILE:-release}"
case "$profile" in
  release) cargo_flags=(--release) ;;
  debug) cargo_flags=() ;;
  *) echo "LOADTEST_PROFILE must be release or debug" >&2; exit 2 ;;
esac
cargo build "${cargo_flags[@]}" --bin crypto-saas -p crypto-saas
cargo build "${cargo_flags[@]}" -p loadgen
bin="${DAEMON_BIN:-target/$profile/crypto-saas}"
loadgen="${LOADGEN_BIN:-target/$profile/loadgen}"

server="$(ensure_postgres)"
db="crypto_saas_load_$(date +%s)_$$"
psql "$server" -qc "CREATE DATABASE $db"
database_url="${server%/*}/$db"
secret_key="$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
encryption_key="$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
out_dir="target/loadgen"
mkdir -p "$out_dir"
log="$out_dir/daemon.log"
: >"$log"

daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$daemon_pid" 2>/dev/null || true
  fi
  if [ "${KEEP_DB:-0}" != 1 ]; then
    psql "$server" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  else
    echo "kept the database: $database_url" >&2
  fi
}
trap cleanup EXIT

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
echo "daemon $daemon_pid on $base (database $db)" >&2
sleep 1 # let it settle before the idle memory reading

SECRET_KEY="$secret_key" DATABASE_URL="$database_url" \
  "$loadgen" --base-url "$base" --daemon-bin "$bin" --daemon-pid "$daemon_pid" --out "$out_dir" "$@"
