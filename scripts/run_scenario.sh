#!/usr/bin/env bash
# One trader's whole cycle against a running daemon: register (or reuse), login, create a
# signal, claim it, open a position, close it, read today's risk.
# Settings: BASE (http://localhost:8000), EMAIL (a new trader.<time>@example.com), PASSWORD,
# QTY (0.001), EXIT_PRICE (50000), FEES (0), SYMBOL (BTCUSDT), ENTRY_PRICE (50000),
# STOP_LOSS (49500), TAKE_PROFIT (51000). A risk block at open is reported and is not a failure.
set -euo pipefail
# shellcheck source=lib/ops.sh
source "$(dirname "$0")/lib/ops.sh"

OPS_BASE="${BASE:-http://localhost:8000}"
EMAIL="${EMAIL:-trader.$(date +%s).$RANDOM@example.com}"
# A fresh random password for a fresh trader; give PASSWORD to reuse an existing one.
PASSWORD="${PASSWORD:-Scenario-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')}"
QTY="${QTY:-0.001}"
EXIT_PRICE="${EXIT_PRICE:-50000}"
FEES="${FEES:-0}"
SYMBOL="${SYMBOL:-BTCUSDT}"
ENTRY_PRICE="${ENTRY_PRICE:-50000}"
STOP_LOSS="${STOP_LOSS:-49500}"
TAKE_PROFIT="${TAKE_PROFIT:-51000}"
export EMAIL PASSWORD
require_cmd curl python3

echo "== Run Scenario =="
echo "BASE=$OPS_BASE EMAIL=$EMAIL"

section A "Health"
check_health

section B "Register and login"
api POST /auth/register "" "$(ops_py json email=@EMAIL password=@PASSWORD)"
case "$HTTP_STATUS:$(field detail)" in
  201:*) pass "register $EMAIL" ;;
  "400:Email already registered") pass "register: $EMAIL exists already" ;;
  *) fail "register failed: $(why)" ;;
esac
login_check trader "" TOKEN
[ -n "$TOKEN" ] || ops_finish

section C "Signal"
api POST /signals "$TOKEN" "$(ops_py json symbol="$SYMBOL" module=DAY_TREND base_risk_percent:=0.35 \
  entry_price:="$ENTRY_PRICE" stop_loss:="$STOP_LOSS" take_profit:="$TAKE_PROFIT")"
SIGNAL_ID="$(field id)"
if [ "$HTTP_STATUS" = 200 ] && [ -n "$SIGNAL_ID" ]; then
  pass "signal created id=$SIGNAL_ID"
else
  fail "signal create failed: $(why)"
  ops_finish
fi
api POST "/signals/claim?limit=10" "$TOKEN"
if [ "$HTTP_STATUS" = 200 ] && printf '%s' "$HTTP_BODY" | grep -q "\"$SIGNAL_ID\""; then
  pass "signal claimed"
else
  fail "claim did not return the signal: $(why)"
fi

section D "Position"
api POST "/positions/open_from_signal?signal_id=$SIGNAL_ID&qty=$QTY" "$TOKEN"
POSITION_ID="$(field id)"
if [ "$HTTP_STATUS" = 200 ] && [ "$(field status)" = OPEN ]; then
  pass "position opened id=$POSITION_ID"
  api POST "/positions/close?position_id=$POSITION_ID&exit_price=$EXIT_PRICE&fees=$FEES" "$TOKEN"
  if [ "$HTTP_STATUS" = 200 ] && [ "$(field status)" = CLOSED ]; then
    pass "position closed realized_pnl=$(field realized_pnl) fees=$(field fees)"
  else
    fail "close failed: $(why)"
  fi
elif [ "$HTTP_STATUS" = 409 ] && [[ "$(field detail)" == "Risk block:"* ]]; then
  pass "open blocked by the risk rules (expected when a limit is reached): $(field detail)"
else
  fail "open failed: $(why)"
fi

section E "Today's risk"
api GET /positions/risk/today "$TOKEN"
if [ "$HTTP_STATUS" = 200 ] && [ -n "$(field risk_profile)" ]; then
  pass "risk today profile=$(field risk_profile) trades_today=$(field trades_today) realized_pnl_today=$(field realized_pnl_today) remaining_trades=$(field remaining_trades)"
else
  fail "risk today failed: $(why)"
fi

ops_finish
