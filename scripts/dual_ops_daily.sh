#!/usr/bin/env bash
# Daily check of the two operating accounts: USER1 trades on BINANCE, USER2 on IBKR, ADMIN reads.
# Health, logins (password, *_OTP or a code from *_TOTP_SECRET), optional secret seeding,
# pre-trade checks, test orders, exit checks with the expected decisions, segregation (each user
# gets 403 on the other's exchange), audit events and the admin's daily risk comparison.
# Settings: BASE_URL; USER1_*, USER2_*, ADMIN_* as listed below (the old script's names).
set -euo pipefail
# shellcheck source=lib/ops.sh
source "$(dirname "$0")/lib/ops.sh"

OPS_BASE="${BASE_URL:-}"
USER1_SYMBOL_BINANCE="${USER1_SYMBOL_BINANCE:-BTCUSDT}"
USER1_QTY_BINANCE="${USER1_QTY_BINANCE:-0.01}"
USER1_BINANCE_API_KEY="${USER1_BINANCE_API_KEY:-}"
USER1_BINANCE_API_SECRET="${USER1_BINANCE_API_SECRET:-}"
USER1_EXIT_ENTRY_PRICE="${USER1_EXIT_ENTRY_PRICE:-50000}"
USER1_EXIT_CURRENT_PRICE="${USER1_EXIT_CURRENT_PRICE:-50750}"
USER1_EXIT_STOP_LOSS="${USER1_EXIT_STOP_LOSS:-49500}"
USER1_EXIT_TAKE_PROFIT="${USER1_EXIT_TAKE_PROFIT:-51000}"
USER1_EXIT_OPENED_MINUTES="${USER1_EXIT_OPENED_MINUTES:-180}"
USER1_EXIT_TREND_BREAK="${USER1_EXIT_TREND_BREAK:-false}"
USER1_EXIT_SIGNAL_REVERSE="${USER1_EXIT_SIGNAL_REVERSE:-false}"
USER1_EXPECT_EXIT="${USER1_EXPECT_EXIT:-false}"
USER2_SYMBOL_IBKR="${USER2_SYMBOL_IBKR:-AAPL}"
USER2_QTY_IBKR="${USER2_QTY_IBKR:-1}"
USER2_IBKR_API_KEY="${USER2_IBKR_API_KEY:-}"
USER2_IBKR_API_SECRET="${USER2_IBKR_API_SECRET:-}"
USER2_EXIT_ENTRY_PRICE="${USER2_EXIT_ENTRY_PRICE:-180}"
USER2_EXIT_CURRENT_PRICE="${USER2_EXIT_CURRENT_PRICE:-179}"
USER2_EXIT_STOP_LOSS="${USER2_EXIT_STOP_LOSS:-178}"
USER2_EXIT_TAKE_PROFIT="${USER2_EXIT_TAKE_PROFIT:-183}"
USER2_EXIT_OPENED_MINUTES="${USER2_EXIT_OPENED_MINUTES:-500}"
USER2_EXIT_TREND_BREAK="${USER2_EXIT_TREND_BREAK:-false}"
USER2_EXIT_SIGNAL_REVERSE="${USER2_EXIT_SIGNAL_REVERSE:-false}"
USER2_EXIT_MACRO_EVENT_BLOCK="${USER2_EXIT_MACRO_EVENT_BLOCK:-true}"
USER2_EXIT_EARNINGS_WITHIN_24H="${USER2_EXIT_EARNINGS_WITHIN_24H:-false}"
USER2_EXPECT_EXIT="${USER2_EXPECT_EXIT:-true}"
# The old script's name for the Binance 451 allowance.
ALLOW_BINANCE_451="${BINANCE_GEO_RESTRICT_AS_PASS:-${ALLOW_BINANCE_451:-true}}"
require_cmd curl python3
require_vars BASE_URL USER1_EMAIL USER1_PASSWORD USER2_EMAIL USER2_PASSWORD ADMIN_EMAIL ADMIN_PASSWORD

echo "== Dual Ops Daily =="
echo "BASE_URL=$OPS_BASE USER1_EMAIL=$USER1_EMAIL USER2_EMAIL=$USER2_EMAIL"

section A "Health"
check_health

section B "Login"
login_check user1 USER1_ TOKEN1
login_check user2 USER2_ TOKEN2
login_check admin ADMIN_ ADMIN_TOKEN
{ [ -n "$TOKEN1" ] && [ -n "$TOKEN2" ] && [ -n "$ADMIN_TOKEN" ]; } || ops_finish

section C "Optional secret seed"
seed() {
  if is_skip_value "$3" || is_skip_value "$4"; then
    info "skip secret seed ($5): credentials not provided"
  else
    store_secret "$@" || true
  fi
}
seed "$TOKEN1" BINANCE "$USER1_BINANCE_API_KEY" "$USER1_BINANCE_API_SECRET" "user1 BINANCE"
seed "$TOKEN2" IBKR "$USER2_IBKR_API_KEY" "$USER2_IBKR_API_SECRET" "user2 IBKR"

section D "Pre-trade and test orders"
pretrade() {
  api POST "/ops/execution/pretrade/$2/check" "$1" "$(ops_py json symbol="$3" side=BUY qty:="$4")"
  if [ "$HTTP_STATUS" = 200 ] && [ "$(field passed)" = true ]; then
    pass "$5 pretrade passed"
  else
    local failed
    failed="$(printf '%s' "$HTTP_BODY" | python3 -c 'import json,sys
try: print(",".join(c["name"] for c in json.load(sys.stdin).get("checks",[]) if not c.get("passed")))
except Exception: print("")')"
    fail "$5 pretrade failed: $(why) failed_checks=${failed:-<none>}"
  fi
}
pretrade "$TOKEN1" binance "$USER1_SYMBOL_BINANCE" "$USER1_QTY_BINANCE" "user1 BINANCE"
pretrade "$TOKEN2" ibkr "$USER2_SYMBOL_IBKR" "$USER2_QTY_IBKR" "user2 IBKR"
test_order "$TOKEN1" BINANCE "$USER1_SYMBOL_BINANCE" "$USER1_QTY_BINANCE" "user1 BINANCE" || true
test_order "$TOKEN2" IBKR "$USER2_SYMBOL_IBKR" "$USER2_QTY_IBKR" "user2 IBKR" || true

section E "Exit checks"
exit_check() {
  local token="$1" venue="$2" expected="${3,,}" label="$4"; shift 4
  api POST "/ops/execution/exit/$venue/check" "$token" "$(ops_py json side=BUY "$@")"
  local got; got="$(field should_exit)"
  if [ "$HTTP_STATUS" = 200 ] && [ "$got" = "$expected" ]; then
    pass "$label exit-check expected=$expected reasons=$(field reasons)"
  else
    fail "$label exit-check mismatch expected=$expected got=${got:-<none>} $(why)"
  fi
}
exit_check "$TOKEN1" binance "$USER1_EXPECT_EXIT" "user1 BINANCE" symbol="$USER1_SYMBOL_BINANCE" \
  entry_price:="$USER1_EXIT_ENTRY_PRICE" current_price:="$USER1_EXIT_CURRENT_PRICE" \
  stop_loss:="$USER1_EXIT_STOP_LOSS" take_profit:="$USER1_EXIT_TAKE_PROFIT" \
  opened_minutes:="$USER1_EXIT_OPENED_MINUTES" trend_break:="$USER1_EXIT_TREND_BREAK" \
  signal_reverse:="$USER1_EXIT_SIGNAL_REVERSE"
exit_check "$TOKEN2" ibkr "$USER2_EXPECT_EXIT" "user2 IBKR" symbol="$USER2_SYMBOL_IBKR" \
  entry_price:="$USER2_EXIT_ENTRY_PRICE" current_price:="$USER2_EXIT_CURRENT_PRICE" \
  stop_loss:="$USER2_EXIT_STOP_LOSS" take_profit:="$USER2_EXIT_TAKE_PROFIT" \
  opened_minutes:="$USER2_EXIT_OPENED_MINUTES" trend_break:="$USER2_EXIT_TREND_BREAK" \
  signal_reverse:="$USER2_EXIT_SIGNAL_REVERSE" macro_event_block:="$USER2_EXIT_MACRO_EVENT_BLOCK" \
  earnings_within_24h:="$USER2_EXIT_EARNINGS_WITHIN_24H"

section F "Segregation"
refused() {
  local token="$1" exchange="$2" symbol="$3" qty="$4" label="$5"
  api POST "/ops/execution/${exchange,,}/test-order" "$token" "$(ops_py json symbol="$symbol" side=BUY qty:="$qty")"
  if [ "$HTTP_STATUS" = 403 ] && [ "$(field detail)" = "Exchange $exchange is disabled for this user" ]; then
    pass "$label blocked as expected"
  else
    fail "$label expected 403 (Exchange $exchange is disabled for this user): $(why)"
  fi
}
refused "$TOKEN1" IBKR "$USER2_SYMBOL_IBKR" "$USER2_QTY_IBKR" "user1 IBKR"
refused "$TOKEN2" BINANCE "$USER1_SYMBOL_BINANCE" "$USER1_QTY_BINANCE" "user2 BINANCE"

section G "Audit"
audit_has "$TOKEN1" user1 exit.check.hold exit.check.triggered || true
audit_has "$TOKEN2" user2 exit.check.hold exit.check.triggered || true

section H "Daily compare"
api GET "/ops/risk/daily-compare?real_only=true" "$ADMIN_TOKEN"
users_count="$(printf '%s' "$HTTP_BODY" | ops_py count users)"
if [ "$HTTP_STATUS" != 200 ]; then
  fail "daily compare failed: $(why)"
elif [ "$users_count" -ge 2 ]; then
  pass "daily compare real_only users=$users_count"
else
  fail "daily compare expected >=2 real users, got $users_count"
fi

ops_finish
