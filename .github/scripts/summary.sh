#!/usr/bin/env bash
# summary.sh TITLE LOG: the run's summary for the GitHub step summary (the Summary line and the
# log's tail). The logs hold no secrets: the scripts never print them.
set -uo pipefail
title="$1" log="$2"
{
  echo "## $title"
  echo
  echo "- Run: ${GITHUB_SERVER_URL:-}/${GITHUB_REPOSITORY:-}/actions/runs/${GITHUB_RUN_ID:-}"
  echo "- Attempts: ${ATTEMPTS_OUTCOME:-unknown}; remediation: ${REMEDIATION_OUTCOME:-not run}"
  if [ -f "$log" ]; then
    echo "- $(grep -E '^Summary: PASS=[0-9]+ FAIL=[0-9]+' "$log" | tail -n 1)"
    echo
    echo '```text'
    tail -n 60 "$log"
    echo '```'
  else
    echo "- no log written"
  fi
} >>"${GITHUB_STEP_SUMMARY:-/dev/stdout}"
