# shellcheck shell=bash
# Sourced by the operator scripts: one PASS/FAIL line per check, the summary line, HTTP calls
# with curl, logins (password, OTP or TOTP secret) and the checks several scripts share.
# Tokens, passwords and keys never reach argv, the output or an error message: curl reads its
# headers and bodies from files in a private temporary directory, python reads values from env.

OPS_LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OPS_BASE="${OPS_BASE:-}" # each script sets it to its base URL
OPS_PASS=0
OPS_FAIL=0
OPS_TIMEOUT="${OPS_TIMEOUT:-30}"
OPS_TMP="$(mktemp -d)"
chmod 700 "$OPS_TMP"
OPS_DONE=0
# Whatever stops a script early (a missing tool, an unexpected error under `set -e`), it still
# ends with a FAIL line and the Summary line the workflows read.
ops_on_exit() {
  local rc=$?
  rm -rf "$OPS_TMP"
  if [ "$OPS_DONE" = 0 ] && [ "$rc" -ne 0 ]; then
    echo "FAIL | stopped before its checks ended (exit $rc)"
    echo
    echo "Summary: PASS=$OPS_PASS FAIL=$((OPS_FAIL + 1))"
  fi
  exit "$rc"
}
trap ops_on_exit EXIT

pass() { echo "PASS | $1"; OPS_PASS=$((OPS_PASS + 1)); }
fail() { echo "FAIL | $1"; OPS_FAIL=$((OPS_FAIL + 1)); }
info() { echo "INFO | $1"; }
section() { echo; echo "[$1] $2"; }

# Prints the summary line and exits 0 only when nothing failed.
ops_finish() {
  OPS_DONE=1
  echo
  echo "Summary: PASS=$OPS_PASS FAIL=$OPS_FAIL"
  [ "$OPS_FAIL" -eq 0 ] && exit 0
  exit 1
}

ops_py() { python3 "$OPS_LIB/ops.py" "$@"; }

require_cmd() {
  local cmd
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 || { echo "FAIL | missing required command: $cmd"; exit 1; }
  done
}

# require_vars NAME...: exits (with a FAIL line) when any is empty.
require_vars() {
  local name missing=()
  for name in "$@"; do [ -n "${!name:-}" ] || missing+=("$name"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    fail "required settings missing: ${missing[*]}"
    ops_finish
  fi
}

is_true() { case "${1,,}" in true | 1 | yes) return 0 ;; *) return 1 ;; esac; }

# api METHOD PATH [TOKEN] [BODY] [CONTENT_TYPE]: sets HTTP_STATUS (000 when unreachable) and
# HTTP_BODY. The base URL is $OPS_BASE.
api() {
  local method="$1" path="$2" token="${3:-}" body="${4:-}" ctype="${5:-application/json}"
  local cfg="$OPS_TMP/curl.cfg" args=()
  : >"$cfg"
  if [ -n "$token" ]; then printf 'header = "Authorization: Bearer %s"\n' "$token" >>"$cfg"; fi
  if [ -n "$body" ]; then
    printf '%s' "$body" >"$OPS_TMP/body"
    args+=(--data-binary "@$OPS_TMP/body" -H "Content-Type: $ctype")
  fi
  : >"$OPS_TMP/response"
  HTTP_STATUS="$(curl -sS -K "$cfg" -X "$method" --max-time "$OPS_TIMEOUT" -o "$OPS_TMP/response" \
    -w '%{http_code}' "${args[@]}" "$OPS_BASE$path" 2>"$OPS_TMP/curl.err")" || HTTP_STATUS=000
  HTTP_BODY="$(cat "$OPS_TMP/response")"
}

# field PATH: a field of the last answer's JSON (empty when absent).
field() { printf '%s' "$HTTP_BODY" | ops_py get "$1"; }

# What went wrong with the last answer, for a FAIL line: the status and the contract's detail.
# Never the whole body of a login (it would carry a token).
why() {
  if [ "$HTTP_STATUS" = 000 ]; then
    echo "unreachable ($(tr -d '\n' <"$OPS_TMP/curl.err" | cut -c1-160))"
  else
    local detail; detail="$(field detail)"
    echo "status=$HTTP_STATUS detail=${detail:-<none>}" | cut -c1-400
  fi
}

check_health() {
  api GET /healthz
  if [ "$HTTP_STATUS" = 200 ] && [ "$(field status)" = ok ]; then
    pass "healthz"
  else
    fail "healthz $(why)"
  fi
}

# login PREFIX: logs in ${PREFIX}EMAIL with ${PREFIX}PASSWORD and, when set, ${PREFIX}OTP or a
# code computed from ${PREFIX}TOTP_SECRET. Sets LOGIN_TOKEN; returns 1 with LOGIN_WHY on failure.
login() {
  local prefix="$1"
  local email_var="${prefix}EMAIL" password_var="${prefix}PASSWORD"
  local otp_var="${prefix}OTP" totp_var="${prefix}TOTP_SECRET"
  local otp="${!otp_var:-}" attempt
  LOGIN_TOKEN="" LOGIN_WHY=""
  for attempt in 1 2; do
    if [ -z "${!otp_var:-}" ] && [ -n "${!totp_var:-}" ]; then
      local next=()
      [ "$attempt" = 2 ] && next=(--next)
      if ! otp="$(ops_py totp "$totp_var" "${next[@]}")"; then
        LOGIN_WHY="$totp_var is not a base32 secret or otpauth:// URI"
        return 1
      fi
    fi
    local form
    form="$(OPS_EMAIL="${!email_var:-}" OPS_PASSWORD="${!password_var:-}" OPS_CODE="$otp" \
      ops_py form username=@OPS_EMAIL password=@OPS_PASSWORD otp=@OPS_CODE)"
    api POST /auth/login "" "$form" application/x-www-form-urlencoded
    LOGIN_TOKEN="$(field access_token)"
    # Clients of the old service check that a token is longer than 100 characters.
    if [ "$HTTP_STATUS" = 200 ] && [ "${#LOGIN_TOKEN}" -gt 100 ]; then return 0; fi
    LOGIN_TOKEN=""
    LOGIN_WHY="$(why)"
    # A code from the secret may have been used in this 30-second step already: one retry
    # with the next step's code.
    if [ "$attempt" = 1 ] && [ -z "${!otp_var:-}" ] && [ -n "${!totp_var:-}" ] \
      && [ "$(field detail)" = "Invalid OTP" ]; then
      info "$prefix login: code refused, retrying with the next 30-second step"
      continue
    fi
    return 1
  done
  return 1
}

# login_check LABEL PREFIX VAR: a PASS/FAIL line; the token goes into variable VAR.
login_check() {
  local label="$1" prefix="$2" var="$3"
  if login "$prefix"; then
    pass "$label login"
    printf -v "$var" '%s' "$LOGIN_TOKEN"
  else
    fail "$label login failed: $LOGIN_WHY"
    printf -v "$var" '%s' ""
  fi
}

# store_secret TOKEN EXCHANGE KEY SECRET LABEL: upserts exchange credentials.
store_secret() {
  local token="$1" exchange="$2" label="$5" body
  body="$(OPS_KEY="$3" OPS_SECRET="$4" ops_py json exchange="$exchange" api_key=@OPS_KEY api_secret=@OPS_SECRET)"
  api POST /users/exchange-secrets "$token" "$body"
  if [ "$HTTP_STATUS" = 201 ] && [[ "$(field message)" == "Encrypted credentials saved"* ]]; then
    pass "$label secret stored"
    return 0
  fi
  fail "$label secret store failed: $(why)"
  return 1
}

# Credentials given as blank, SKIP, NONE or N/A mean "not provided" (as the old scripts had it).
is_skip_value() {
  local v="${1//[[:space:]]/}"
  case "${v^^}" in "" | __SKIP__ | SKIP | NONE | N/A) return 0 ;; *) return 1 ;; esac
}

# test_order TOKEN EXCHANGE SYMBOL QTY LABEL: one test order (never a live one). A Binance
# answer 451 (restricted location) passes when ALLOW_BINANCE_451 is true.
test_order() {
  local token="$1" exchange="$2" symbol="$3" qty="$4" label="$5" venue body
  venue="${exchange,,}"
  body="$(ops_py json symbol="$symbol" side=BUY qty:="$qty")"
  api POST "/ops/execution/$venue/test-order" "$token" "$body"
  if [ "$HTTP_STATUS" = 200 ] && [ "$(field sent)" = true ]; then
    pass "$label test-order (mode $(field mode))"
    return 0
  fi
  local detail; detail="$(field detail)"
  if [ "$exchange" = BINANCE ] && is_true "${ALLOW_BINANCE_451:-true}" \
    && [[ "$detail" == *"Binance testnet error 451"* || "$detail" == *"restricted location"* ]]; then
    pass "$label test-order reachable (Binance 451, restricted location)"
    return 0
  fi
  fail "$label test-order failed: $(why)"
  return 1
}

# audit_has TOKEN LABEL ACTION...: the caller's audit trail holds one of the actions.
audit_has() {
  local token="$1" label="$2"; shift 2
  api GET "/ops/audit/me?limit=200" "$token"
  if [ "$HTTP_STATUS" != 200 ] || [ "$(printf '%s' "$HTTP_BODY" | ops_py is-list)" != true ]; then
    fail "$label audit list failed: $(why)"
    return 1
  fi
  if [ "$(printf '%s' "$HTTP_BODY" | ops_py has-action "$@")" = true ]; then
    pass "$label audit event ($*)"
  else
    fail "$label audit missing $*"
  fi
}

# posture TOKEN REAL_ONLY MAX_AGE: reads /ops/security/posture into POSTURE (empty on failure).
posture() {
  api GET "/ops/security/posture?real_only=$2&max_secret_age_days=$3" "$1"
  POSTURE=""
  if [ "$HTTP_STATUS" = 200 ] && [ "$(printf '%s' "$HTTP_BODY" | ops_py is-object)" = true ]; then
    POSTURE="$HTTP_BODY"
  fi
}
posture_field() { printf '%s' "$POSTURE" | ops_py get "summary.$1"; }

# A connection URL with its password replaced, for output.
redact_url() { printf '%s' "$1" | sed -E 's#(://[^:/@]*):[^@]*@#\1:<redacted>@#'; }

sha256_of() { sha256sum "$1" | awk '{print $1}'; }
