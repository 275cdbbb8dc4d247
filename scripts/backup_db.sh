#!/usr/bin/env bash
# Backs up the database at DATABASE_URL: `scripts/backup_db.sh [FILE]` writes a pg_dump custom-
# format archive (default $BACKUP_DIR/${BACKUP_PREFIX}_<UTC time>.dump, BACKUP_DIR=./backups,
# BACKUP_PREFIX=crypto_saas) and FILE.sha256 beside it, then checks the archive reads back.
# KEEP_LAST=N keeps only the newest N archives of that prefix in BACKUP_DIR.
set -euo pipefail
# shellcheck source=lib/ops.sh
source "$(dirname "$0")/lib/ops.sh"

BACKUP_DIR="${BACKUP_DIR:-./backups}"
BACKUP_PREFIX="${BACKUP_PREFIX:-crypto_saas}"
KEEP_LAST="${KEEP_LAST:-0}"
FILE="${1:-$BACKUP_DIR/${BACKUP_PREFIX}_$(date -u +%Y%m%dT%H%M%SZ).dump}"
require_cmd pg_dump pg_restore sha256sum
require_vars DATABASE_URL

echo "== Backup DB =="
echo "DATABASE_URL=$(redact_url "$DATABASE_URL") FILE=$FILE"

if ! mkdir -p "$(dirname "$FILE")" 2>/dev/null; then
  fail "cannot create the directory of $FILE"
  ops_finish
fi
if pg_dump --format=custom --no-owner --no-privileges --file "$FILE" "$DATABASE_URL" 2>"$OPS_TMP/pg_dump.err"; then
  pass "pg_dump custom-format archive written ($(stat -c %s "$FILE") bytes)"
else
  fail "pg_dump failed: $(redact_url "$(tr '\n' ' ' <"$OPS_TMP/pg_dump.err")")"
  ops_finish
fi
if entries="$(pg_restore --list "$FILE" 2>/dev/null | grep -c 'TABLE DATA')"; then
  pass "archive reads back ($entries tables with data)"
else
  fail "archive does not read back with pg_restore --list"
fi
printf '%s  %s\n' "$(sha256_of "$FILE")" "$(basename "$FILE")" >"$FILE.sha256"
pass "checksum written to $FILE.sha256"

if [[ "$KEEP_LAST" =~ ^[0-9]+$ ]] && [ "$KEEP_LAST" -gt 0 ]; then
  mapfile -t old < <(find "$BACKUP_DIR" -maxdepth 1 -name "${BACKUP_PREFIX}_*.dump" -printf '%T@ %p\n' \
    | sort -rn | tail -n +$((KEEP_LAST + 1)) | cut -d' ' -f2-)
  for f in "${old[@]}"; do rm -f "$f" "$f.sha256"; info "removed old backup $f"; done
fi

ops_finish
