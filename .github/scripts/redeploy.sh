#!/usr/bin/env bash
# redeploy.sh LOG COMMAND...: the remediation after two failed attempts. Calls the deploy hook
# in REDEPLOY_HOOK_URL (a secret: never printed), waits for the service, runs COMMAND once more.
# Exits 1 without a hook: there is nothing to remediate with.
set -uo pipefail
log="$1"; shift
if [ -z "${REDEPLOY_HOOK_URL:-}" ]; then
  echo "remediation skipped: no REDEPLOY_HOOK_URL secret" | tee -a "$log"
  exit 1
fi
echo "calling the redeploy hook" | tee -a "$log"
if ! curl -fsS -o /dev/null -X POST "$REDEPLOY_HOOK_URL"; then
  echo "the redeploy hook failed" | tee -a "$log"
  exit 1
fi
wait="${REDEPLOY_WAIT_SECONDS:-60}"
echo "waiting ${wait}s for the service to restart" | tee -a "$log"
sleep "$wait"
echo "=== after redeploy: $* ===" | tee -a "$log"
"$@" 2>&1 | tee -a "$log"
