#!/usr/bin/env bash
# Removes smoke users (emails starting `smoke.`) inactive for more than OLDER_THAN_DAYS, or only
# reports them with DRY_RUN=true. The daemon's answer is written to cleanup_smoke_users_output.json
# (in OUTPUT_DIR, default .). Settings: BASE_URL, ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_OTP or
# ADMIN_TOTP_SECRET, OLDER_THAN_DAYS (14), DRY_RUN (false).
set -euo pipefail
# shellcheck source=lib/ops.sh
source "$(dirname "$0")/lib/ops.sh"

OPS_BASE="${BASE_URL:-}"
OLDER_THAN_DAYS="${OLDER_THAN_DAYS:-14}"
DRY_RUN="${DRY_RUN:-false}"
OUTPUT="${OUTPUT_DIR:-.}/cleanup_smoke_users_output.json"
require_cmd curl python3
require_vars BASE_URL ADMIN_EMAIL ADMIN_PASSWORD
case "$DRY_RUN" in true | false) ;; *) fail "DRY_RUN must be true or false (got $DRY_RUN)"; ops_finish ;; esac
[[ "$OLDER_THAN_DAYS" =~ ^[0-9]+$ ]] || { fail "OLDER_THAN_DAYS must be a whole number of days"; ops_finish; }

echo "== Cleanup Smoke Users =="
echo "BASE_URL=$OPS_BASE OLDER_THAN_DAYS=$OLDER_THAN_DAYS DRY_RUN=$DRY_RUN"

section A "Admin login"
login_check admin ADMIN_ ADMIN_TOKEN
[ -n "$ADMIN_TOKEN" ] || ops_finish

section B "Cleanup"
api POST "/ops/admin/cleanup-smoke-users?dry_run=$DRY_RUN&older_than_days=$OLDER_THAN_DAYS" "$ADMIN_TOKEN"
printf '%s\n' "$HTTP_BODY" >"$OUTPUT"
if [ "$HTTP_STATUS" = 200 ] && [ "$(printf '%s' "$HTTP_BODY" | ops_py is-object)" = true ]; then
  pass "cleanup scanned=$(field scanned) eligible=$(field eligible) deleted=$(field deleted) dry_run=$(field dry_run) (answer in $OUTPUT)"
else
  fail "cleanup endpoint failed: $(why)"
fi

ops_finish
