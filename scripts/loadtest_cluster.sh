#!/usr/bin/env bash
# Capacity with one and with two daemons on one database, both behind the sample nginx
# configuration (deploy/nginx.conf), so the only difference is the number of daemons. Builds the
# daemon and the load generator (release), runs the load generator through nginx with one daemon
# listed, then with two, and drops the database. Results: target/loadgen/cluster-1.md, cluster-2.md.
#
#   scripts/loadtest_cluster.sh                          # create_signal,full_cycle, 8 s each
#   scripts/loadtest_cluster.sh --scenarios pretrade --duration 5
#
# Needs nginx (scripts/lib/proxy.sh installs it). DAEMON_BIN / LOADGEN_BIN as in loadtest.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh

if [ -z "${DAEMON_BIN:-}" ]; then cargo build --release --bin crypto-saas -p crypto-saas; fi
if [ -z "${LOADGEN_BIN:-}" ]; then cargo build --release -p loadgen; fi
bin="${DAEMON_BIN:-target/release/crypto-saas}"
loadgen="${LOADGEN_BIN:-target/release/loadgen}"
command -v nginx >/dev/null || { echo "nginx is not installed: run scripts/lib/proxy.sh" >&2; exit 1; }

server="$(ensure_postgres)"
secret_key="$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
encryption_key="$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
out_dir="target/loadgen"
work="$(mktemp -d)"
mkdir -p "$out_dir" "$work/logs"
pids=()
db=""
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 1
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  [ -n "$db" ] && psql "$server" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true
args=("$@")
if [ "${#args[@]}" = 0 ]; then args=(--scenarios "create_signal,full_cycle" --duration 8); fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start_daemon() { # port database_url log
  env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
    DATABASE_URL="$2" SECRET_KEY="$secret_key" ENCRYPTION_KEY="$encryption_key" \
    HOST=127.0.0.1 PORT="$1" LOG_LEVEL=warn \
    BINANCE_TESTNET_BASE_URL=http://127.0.0.1:9 TELEGRAM_API_BASE_URL=http://127.0.0.1:9 \
    "$bin" serve >"$3" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 200); do
    grep -q "^listening on" "$3" && return 0
    sleep 0.1
  done
  echo "a daemon did not start:" >&2; cat "$3" >&2; exit 1
}

for daemons in 1 2; do
  db="crypto_saas_cluster_load_$(date +%s)_$$"
  psql "$server" -qc "CREATE DATABASE $db"
  database_url="${server%/*}/$db"
  ports=("$(free_port)" "$(free_port)")
  listen="$(free_port)"
  start_daemon "${ports[0]}" "$database_url" "$work/d1.log"
  second="${ports[0]}"
  if [ "$daemons" = 2 ]; then start_daemon "${ports[1]}" "$database_url" "$work/d2.log"; second="${ports[1]}"; fi
  # One daemon: both upstream lines name it, so nginx is the same in both runs.
  sed -e "s/127.0.0.1:8001/127.0.0.1:${ports[0]}/" -e "s/127.0.0.1:8002/127.0.0.1:$second/" \
      -e "s/127.0.0.1:8080/127.0.0.1:$listen/" deploy/nginx.conf >"$work/nginx.conf"
  nginx -p "$work" -c "$work/nginx.conf" -g "pid $work/nginx.pid; daemon off; error_log stderr;" 2>"$work/nginx.log" &
  pids+=("$!")
  sleep 1
  echo "$daemons daemon(s) behind nginx on 127.0.0.1:$listen (database $db)" >&2
  SECRET_KEY="$secret_key" DATABASE_URL="$database_url" \
    "$loadgen" --base-url "http://127.0.0.1:$listen" --daemon-bin "$bin" --out "$out_dir" \
    "${args[@]}"
  cp "$out_dir/results.md" "$out_dir/cluster-$daemons.md"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
  psql "$server" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  db=""
done
echo "results: $out_dir/cluster-1.md, $out_dir/cluster-2.md" >&2
