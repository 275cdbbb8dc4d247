#!/usr/bin/env bash
# run_with_retry.sh LOG COMMAND...: runs an operator script up to two times (a pause between),
# appending its output to LOG; exits 0 as soon as one attempt passes.
set -uo pipefail
log="$1"; shift
pause="${RETRY_PAUSE_SECONDS:-30}"
for attempt in 1 2; do
  echo "=== attempt $attempt/2: $* ===" | tee -a "$log"
  if "$@" 2>&1 | tee -a "$log"; then exit 0; fi
  if [ "$attempt" = 1 ]; then
    echo "failed; retrying in ${pause}s" | tee -a "$log"
    sleep "$pause"
  fi
done
echo "failed after 2 attempts" | tee -a "$log"
exit 1
