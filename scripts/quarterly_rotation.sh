#!/usr/bin/env bash
# Quarterly rotation of the operating accounts' exchange credentials: store the NEW_* ones,
# validate (test orders on both exchanges, security posture), and when validation fails store
# the ROLLBACK_* ones and validate again. Any failure (even one rolled back) exits 1.
# Settings: BASE_URL; ADMIN_*, USER1_* (BINANCE owner), USER2_* (IBKR owner) with EMAIL, PASSWORD,
# OTP or TOTP_SECRET; NEW_USER1_BINANCE_API_KEY/_SECRET, NEW_USER2_IBKR_API_KEY/_SECRET,
# ROLLBACK_USER1_BINANCE_API_KEY/_SECRET, ROLLBACK_USER2_IBKR_API_KEY/_SECRET; BINANCE_SYMBOL,
# BINANCE_QTY, IBKR_SYMBOL, IBKR_QTY, ALLOW_BINANCE_451 (true), POSTURE_MAX_SECRET_AGE_DAYS (90).
set -euo pipefail
# shellcheck source=lib/ops.sh
source "$(dirname "$0")/lib/ops.sh"

OPS_BASE="${BASE_URL:-}"
BINANCE_SYMBOL="${BINANCE_SYMBOL:-BTCUSDT}"
BINANCE_QTY="${BINANCE_QTY:-0.01}"
IBKR_SYMBOL="${IBKR_SYMBOL:-AAPL}"
IBKR_QTY="${IBKR_QTY:-1}"
POSTURE_MAX_SECRET_AGE_DAYS="${POSTURE_MAX_SECRET_AGE_DAYS:-90}"
require_cmd curl python3
require_vars BASE_URL ADMIN_EMAIL ADMIN_PASSWORD USER1_EMAIL USER1_PASSWORD USER2_EMAIL USER2_PASSWORD

echo "== Quarterly Rotation =="
echo "BASE_URL=$OPS_BASE USER1_EMAIL=$USER1_EMAIL USER2_EMAIL=$USER2_EMAIL"

section A "Health"
check_health

section B "Login"
login_check admin ADMIN_ ADMIN_TOKEN
login_check user1 USER1_ TOKEN1
login_check user2 USER2_ TOKEN2
{ [ -n "$ADMIN_TOKEN" ] && [ -n "$TOKEN1" ] && [ -n "$TOKEN2" ]; } || ops_finish

# apply STAGE PREFIX: stores ${PREFIX}USER1_BINANCE_API_* and ${PREFIX}USER2_IBKR_API_* when
# given; prints how many were stored.
apply() {
  local stage="$1" prefix="$2" stored=0 key secret
  key="${prefix}USER1_BINANCE_API_KEY" secret="${prefix}USER1_BINANCE_API_SECRET"
  if [ -n "${!key:-}" ] && [ -n "${!secret:-}" ]; then
    store_secret "$TOKEN1" BINANCE "${!key}" "${!secret}" "$stage user1 BINANCE" && stored=$((stored + 1))
  else
    info "$stage user1 BINANCE: no ${prefix}USER1_BINANCE_API_KEY/_SECRET given"
  fi
  key="${prefix}USER2_IBKR_API_KEY" secret="${prefix}USER2_IBKR_API_SECRET"
  if [ -n "${!key:-}" ] && [ -n "${!secret:-}" ]; then
    store_secret "$TOKEN2" IBKR "${!key}" "${!secret}" "$stage user2 IBKR" && stored=$((stored + 1))
  else
    info "$stage user2 IBKR: no ${prefix}USER2_IBKR_API_KEY/_SECRET given"
  fi
  APPLIED="$stored"
}

# validate STAGE: returns 1 when any of its checks failed.
validate() {
  local stage="$1" before="$OPS_FAIL"
  section "Validation" "$stage"
  test_order "$TOKEN1" BINANCE "$BINANCE_SYMBOL" "$BINANCE_QTY" "$stage user1 BINANCE" || true
  test_order "$TOKEN2" IBKR "$IBKR_SYMBOL" "$IBKR_QTY" "$stage user2 IBKR" || true
  posture "$ADMIN_TOKEN" true "$POSTURE_MAX_SECRET_AGE_DAYS"
  if [ -z "$POSTURE" ]; then
    fail "$stage posture read failed: $(why)"
  else
    local missing; missing="$(posture_field users_missing_2fa)"
    if [ "${missing:-1}" -eq 0 ]; then
      pass "$stage posture 2FA ok"
    else
      fail "$stage posture users missing 2FA: ${missing:-<unknown>}"
    fi
  fi
  [ "$OPS_FAIL" -eq "$before" ]
}

section C "Rotation apply"
apply rotation NEW_
rotated="$APPLIED"
[ "$rotated" -gt 0 ] || info "no new credentials given: this run validates only"

if ! validate post-rotation && [ "$rotated" -gt 0 ]; then
  section Rollback "previous credentials"
  apply rollback ROLLBACK_
  if [ "$APPLIED" -gt 0 ]; then
    validate post-rollback || true
  else
    fail "rollback unavailable: no ROLLBACK_* credentials given"
  fi
fi

ops_finish
