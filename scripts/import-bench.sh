#!/usr/bin/env bash
# Import benchmark: builds the daemon (release), generates an old-service database of the schema in
# tests/fixtures/legacy_schema.sql with SQL generate_series (by default 100,000 users with their 2FA
# rows for one in ten, a Fernet-sealed Binance secret, an assignment and a daily-risk row each;
# 1,000,000 signals, 1,000,000 positions and 3,000,000 audit events), imports it into a fresh
# database and prints the import's summary with its rows/s. Both databases are dropped at the end.
#
#   scripts/import-bench.sh
#   BENCH_USERS=1000 BENCH_SIGNALS=10000 BENCH_POSITIONS=10000 BENCH_AUDIT=30000 scripts/import-bench.sh
#
# BENCH_RERUN=1 imports a second time (every row already there); KEEP_DB=1 keeps both databases;
# BENCH_PROFILE=debug uses a debug build (quick checks of the script only: numbers mean nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh

users="${BENCH_USERS:-100000}"
signals="${BENCH_SIGNALS:-1000000}"
positions="${BENCH_POSITIONS:-1000000}"
audit="${BENCH_AUDIT:-3000000}"

profile="${BENCH_PROFILE:-release}"
case "$profile" in
  release) cargo build --release --bin crypto-saas -p crypto-saas ;;
  debug) cargo build --bin crypto-saas -p crypto-saas ;;
  *) echo "BENCH_PROFILE must be release or debug" >&2; exit 2 ;;
esac
bin="target/$profile/crypto-saas"

server="$(ensure_postgres)"
stamp="$(date +%s)_$$"
legacy_db="cs_import_bench_legacy_$stamp"
target_db="cs_import_bench_target_$stamp"
legacy_url="${server%/*}/$legacy_db"
target_url="${server%/*}/$target_db"
cleanup() {
  if [ "${KEEP_DB:-0}" = 1 ]; then
    echo "kept $legacy_url and $target_url" >&2
    return
  fi
  psql "$server" -qc "DROP DATABASE IF EXISTS $legacy_db WITH (FORCE)" >/dev/null 2>&1 || true
  psql "$server" -qc "DROP DATABASE IF EXISTS $target_db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql "$server" -qc "CREATE DATABASE $legacy_db"
psql "$server" -qc "CREATE DATABASE $target_db"
psql "$legacy_url" -q -v ON_ERROR_STOP=1 -f tests/fixtures/legacy_schema.sql

# Throwaway keys of this run only.
legacy_key="bench-legacy-$(head -c 18 /dev/urandom | base64 | tr -d '\n')"
secret_key="$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
encryption_key="$(head -c 32 /dev/urandom | base64 | tr -d '\n')"

echo "generating the old database: $users users, $signals signals, $positions positions, $audit audit events…" >&2
started=$(date +%s)
# Ids are md5-shaped UUIDs so rows can name each other without lookups. Fernet tokens are made as
# the old service made them (key = urlsafe_base64(SHA-256(ENCRYPTION_KEY))): 0x80, the time, a
# random IV, AES-128-CBC under the key's second half, HMAC-SHA256 under its first half.
psql "$legacy_url" -q -v ON_ERROR_STOP=1 -v users="$users" -v signals="$signals" \
  -v positions="$positions" -v audit="$audit" -v legacy_key="$legacy_key" <<'SQL'
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE FUNCTION pg_temp.fernet(plain text, raw_key text) RETURNS text LANGUAGE sql AS $$
  WITH k AS (SELECT digest(convert_to(raw_key, 'UTF8'), 'sha256') AS key, gen_random_bytes(16) AS iv),
       b AS (SELECT key, '\x80'::bytea || int8send(extract(epoch FROM now())::bigint) || iv
                    || encrypt_iv(convert_to(plain, 'UTF8'), substring(key FROM 17 FOR 16), iv, 'aes-cbc/pad:pkcs') AS body
             FROM k)
  SELECT translate(replace(encode(body || hmac(body, substring(key FROM 1 FOR 16), 'sha256'), 'base64'), E'\n', ''), '+/', '-_')
  FROM b
$$;
CREATE FUNCTION pg_temp.uid(kind text, n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS
  $$ SELECT md5(kind || n)::uuid::text $$;

-- One bcrypt hash (passlib's $2b$ form) for every user: hashing 100,000 passwords would take minutes.
INSERT INTO users
SELECT pg_temp.uid('u', g), 'bench' || g || '@desk.io', h.hash,
       CASE WHEN g % 1000 = 0 THEN 'admin' WHEN g % 3 = 0 THEN NULL ELSE 'trader' END
FROM generate_series(1, :users) g,
     (SELECT overlay(crypt('bench-password', gen_salt('bf', 12)) PLACING '$2b$' FROM 1 FOR 4) AS hash) h;
INSERT INTO user_two_factor
SELECT pg_temp.uid('u', g), 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', g % 20 = 0
FROM generate_series(10, :users, 10) g;
INSERT INTO exchange_secret
SELECT pg_temp.uid('x', g), pg_temp.uid('u', g), 'BINANCE',
       pg_temp.fernet('bench-api-key-' || g, :'legacy_key'), pg_temp.fernet('bench-api-secret-' || g, :'legacy_key'),
       now() - interval '30 days', now() - interval '1 day'
FROM generate_series(1, :users) g;
INSERT INTO strategy_assignment
SELECT pg_temp.uid('g', g), pg_temp.uid('u', g), 'BINANCE', 'SWING_V1', g % 10 <> 0,
       now() - interval '30 days', now() - interval '2 days'
FROM generate_series(1, :users) g;
INSERT INTO daily_risk_state
SELECT pg_temp.uid('r', g), pg_temp.uid('u', g), (now() AT TIME ZONE 'America/Bogota')::date - (g % 7),
       g % 4, (g % 200) * 0.37 - 30.5, -5, 3
FROM generate_series(1, :users) g;
INSERT INTO signals
SELECT pg_temp.uid('s', g), pg_temp.uid('u', g % :users + 1), 'BTCUSDT', 'breakout',
       CASE WHEN g % 5 = 0 THEN NULL ELSE 0.5 END, 60000 + (g % 1000) * 0.1, 59000.5, 62000.25,
       (ARRAY['CREATED', 'EXECUTING', 'OPENED', 'COMPLETED'])[g % 4 + 1], CASE WHEN g % 2 = 0 THEN 'RR_OK' END,
       now() - g * interval '1 second', now() - g * interval '1 second'
FROM generate_series(1, :signals) g;
INSERT INTO positions
SELECT pg_temp.uid('p', g), pg_temp.uid('u', g % :users + 1), pg_temp.uid('s', g), 'BTCUSDT', 'LONG',
       0.001 * (g % 50 + 1), 60000 + (g % 1000) * 0.1, 59000.5, 62000.25,
       CASE WHEN g % 10 = 0 THEN 'OPEN' ELSE 'CLOSED' END,
       now() - g * interval '1 second', CASE WHEN g % 10 <> 0 THEN now() - g * interval '1 second' + interval '1 hour' END,
       CASE WHEN g % 10 <> 0 THEN (g % 300) * 0.1 - 15 END, CASE WHEN g % 10 <> 0 THEN 0.1 END
FROM generate_series(1, :positions) g;
INSERT INTO audit_log
SELECT pg_temp.uid('a', g), CASE WHEN g % 50 = 0 THEN NULL ELSE pg_temp.uid('u', g % :users + 1) END,
       (ARRAY['auth.login.success', 'signal.create', 'position.open', 'position.close',
              'position.open.blocked.max_trades', 'execution.binance.test_order.error'])[g % 6 + 1],
       'position', pg_temp.uid('p', g), '{"qty": 0.01}', now() - g * interval '1 second'
FROM generate_series(1, :audit) g;
VACUUM ANALYZE;
SQL
echo "generated in $(( $(date +%s) - started )) s" >&2

psql "$target_url" -qtAc "SELECT 1" >/dev/null
run_import() {
  env -i PATH="$PATH" DATABASE_URL="$target_url" SECRET_KEY="$secret_key" ENCRYPTION_KEY="$encryption_key" \
    LEGACY_DATABASE_URL="$legacy_url" LEGACY_ENCRYPTION_KEY="$legacy_key" LOG_LEVEL=warn \
    "$bin" import-legacy
}
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(psql "$server" -qtAc 'SHOW server_version')" >&2
echo "== import" >&2
run_import
if [ "${BENCH_RERUN:-0}" = 1 ]; then
  echo "== second import (every row already there)" >&2
  run_import
fi
