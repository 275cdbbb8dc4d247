#!/usr/bin/env bash
# Daily security posture: every user in scope has 2FA, no exchange secret is older than
# SECRET_MAX_AGE_DAYS, and errors have not risen two days running up to PREVENTIVE_MIN_ERRORS.
# Writes the dashboard summary to security_dashboard_snapshot.json (in SNAPSHOT_DIR, default .).
# Settings: BASE_URL, ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_OTP or ADMIN_TOTP_SECRET,
# SECRET_MAX_AGE_DAYS (30), REAL_ONLY (true), PREVENTIVE_MIN_ERRORS (10).
set -euo pipefail
# shellcheck source=lib/ops.sh
source "$(dirname "$0")/lib/ops.sh"

OPS_BASE="${BASE_URL:-}"
SECRET_MAX_AGE_DAYS="${SECRET_MAX_AGE_DAYS:-30}"
REAL_ONLY="${REAL_ONLY:-true}"
PREVENTIVE_MIN_ERRORS="${PREVENTIVE_MIN_ERRORS:-10}"
SNAPSHOT="${SNAPSHOT_DIR:-.}/security_dashboard_snapshot.json"
require_cmd curl python3
require_vars BASE_URL ADMIN_EMAIL ADMIN_PASSWORD

echo "== Security Posture Daily =="
echo "BASE_URL=$OPS_BASE REAL_ONLY=$REAL_ONLY SECRET_MAX_AGE_DAYS=$SECRET_MAX_AGE_DAYS PREVENTIVE_MIN_ERRORS=$PREVENTIVE_MIN_ERRORS"

section A "Health"
check_health

section B "Admin login"
login_check admin ADMIN_ ADMIN_TOKEN
[ -n "$ADMIN_TOKEN" ] || ops_finish

section C "Security posture"
posture "$ADMIN_TOKEN" "$REAL_ONLY" "$SECRET_MAX_AGE_DAYS"
if [ -z "$POSTURE" ]; then
  fail "security posture request failed: $(why)"
  ops_finish
fi
total="$(posture_field total_users)"
missing_2fa="$(posture_field users_missing_2fa)"
stale="$(posture_field users_with_stale_secrets)"
if [ "${total:-0}" -gt 0 ]; then pass "security posture users=$total"; else fail "security posture: no users in scope"; fi
if [ "${missing_2fa:-1}" -eq 0 ]; then pass "2FA posture ok"; else fail "users missing 2FA: $missing_2fa"; fi
if [ "${stale:-1}" -eq 0 ]; then pass "secret rotation posture ok"; else fail "users with stale secrets: $stale"; fi

section D "Dashboard snapshot"
api GET "/ops/dashboard/summary?real_only=$REAL_ONLY&max_secret_age_days=$SECRET_MAX_AGE_DAYS" "$ADMIN_TOKEN"
if [ "$HTTP_STATUS" = 200 ] && [ "$(printf '%s' "$HTTP_BODY" | ops_py is-object)" = true ]; then
  printf '%s\n' "$HTTP_BODY" >"$SNAPSHOT"
  pass "dashboard snapshot exported to $SNAPSHOT (overall_status=$(field overall_status))"

  section E "Preventive trend rule"
  read -r incident errors_today blocked < <(printf '%s' "$HTTP_BODY" | ops_py trend "$PREVENTIVE_MIN_ERRORS")
  if [ "$incident" = true ] && [ "$blocked" -gt 0 ]; then
    fail "preventive incident (high priority): errors rose two days running, errors_today=$errors_today>=$PREVENTIVE_MIN_ERRORS, pretrade_blocked_last_24h=$blocked"
  elif [ "$incident" = true ]; then
    fail "preventive incident: errors rose two days running, errors_today=$errors_today>=$PREVENTIVE_MIN_ERRORS"
  else
    pass "preventive trend rule ok (errors_today=$errors_today threshold=$PREVENTIVE_MIN_ERRORS)"
  fi
else
  fail "dashboard snapshot failed: $(why)"
fi

ops_finish
