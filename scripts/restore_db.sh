#!/usr/bin/env bash
# Restores a backup_db.sh archive into the database at DATABASE_URL:
# `scripts/restore_db.sh FILE [--force]` (or BACKUP_FILE=FILE). The archive's checksum is verified
# when FILE.sha256 exists. The target must be empty (no tables): a non-empty database is refused
# unless --force (or RESTORE_FORCE=true) is given, and then its objects are dropped and replaced.
# Stop the daemons first; restore runs in one transaction, so a failure leaves the target as it was.
# DRY_RUN=true runs every check (checksum, archive, target) and restores nothing. The old script's
# CONFIRM_RESTORE=YES is not needed for an empty target and is not enough for a non-empty one.
set -euo pipefail
# shellcheck source=lib/ops.sh
source "$(dirname "$0")/lib/ops.sh"

FILE="${BACKUP_FILE:-}"
FORCE="${RESTORE_FORCE:-false}"
DRY_RUN="${DRY_RUN:-false}"
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=true ;;
    -*) echo "unknown option $arg (usage: restore_db.sh FILE [--force])"; exit 2 ;;
    *) FILE="$arg" ;;
  esac
done
require_cmd pg_restore psql sha256sum
require_vars DATABASE_URL FILE

echo "== Restore DB =="
echo "DATABASE_URL=$(redact_url "$DATABASE_URL") FILE=$FILE FORCE=$FORCE DRY_RUN=$DRY_RUN"

[ -f "$FILE" ] || { fail "backup file not found: $FILE"; ops_finish; }
if [ -f "$FILE.sha256" ]; then
  if [ "$(awk '{print $1}' "$FILE.sha256")" = "$(sha256_of "$FILE")" ]; then
    pass "checksum matches $FILE.sha256"
  else
    fail "checksum mismatch: $FILE does not match $FILE.sha256"
    ops_finish
  fi
else
  info "no $FILE.sha256: checksum not verified"
fi
if pg_restore --list "$FILE" >/dev/null 2>&1; then
  pass "archive is a pg_dump custom-format archive"
else
  fail "not a pg_dump custom-format archive: $FILE"
  ops_finish
fi

if ! tables="$(psql "$DATABASE_URL" -qtAX -v ON_ERROR_STOP=1 -c \
  "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')" 2>"$OPS_TMP/psql.err")"; then
  fail "cannot read the target database: $(redact_url "$(tr '\n' ' ' <"$OPS_TMP/psql.err")")"
  ops_finish
fi
clean=()
if [ "$tables" -eq 0 ]; then
  pass "target database is empty"
elif is_true "$FORCE"; then
  info "target database has $tables tables: replacing them (--force)"
  clean=(--clean --if-exists)
else
  fail "target database is not empty ($tables tables): restore into an empty database, or pass --force to replace it"
  ops_finish
fi

if is_true "$DRY_RUN"; then
  info "DRY_RUN: nothing restored"
  ops_finish
fi
if pg_restore "${clean[@]}" --no-owner --no-privileges --exit-on-error --single-transaction \
  --dbname "$DATABASE_URL" "$FILE" 2>"$OPS_TMP/pg_restore.err"; then
  pass "archive restored"
else
  fail "pg_restore failed (nothing was changed): $(redact_url "$(tr '\n' ' ' <"$OPS_TMP/pg_restore.err" | cut -c1-400)")"
  ops_finish
fi
users="$(psql "$DATABASE_URL" -qtAX -c 'SELECT count(*) FROM users' 2>/dev/null || echo "")"
if [ -n "$users" ]; then
  pass "restored database answers (users=$users)"
else
  fail "restored database has no users table"
fi

ops_finish
