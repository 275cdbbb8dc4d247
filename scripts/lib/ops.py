#!/usr/bin/env python3
"""JSON and TOTP helpers for the operator scripts (python3 standard library only).

Secrets never travel in argv (other users of the host can read it): values written `@NAME` are
read from the environment variable NAME, and `totp NAME` reads the secret from variable NAME.
"""
import base64
import binascii
import hashlib
import hmac
import json
import os
import struct
import sys
import time
import urllib.parse

TOTP_STEP = 30


def load_stdin():
    try:
        return json.load(sys.stdin)
    except ValueError:
        return None


def show(value):
    """Prints a JSON value the way shell scripts compare it: true/false, empty for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def lookup(data, path):
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.lstrip("-").isdigit() and -len(data) <= int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def value_of(text):
    """`@NAME` is the environment variable NAME; anything else is itself."""
    if text.startswith("@"):
        return os.environ.get(text[1:], "")
    return text


def pairs(args):
    for arg in args:
        key, sep, raw = arg.partition("=")
        if not sep:
            raise SystemExit(f"ops.py: expected key=value, got {key!r}")
        yield key, raw


def build_json(args):
    """`key=text`, `key:=json` (numbers, booleans), `key=@VAR` (text from the environment)."""
    out = {}
    for key, raw in pairs(args):
        if key.endswith(":"):
            out[key[:-1]] = json.loads(value_of(raw))
        else:
            out[key] = value_of(raw)
    return json.dumps(out, separators=(",", ":"))


def build_form(args):
    """A form-urlencoded body; empty values are left out (an absent `otp`)."""
    fields = [(k, value_of(v)) for k, v in pairs(args)]
    return urllib.parse.urlencode([(k, v) for k, v in fields if v != ""])


def totp_key(text):
    """Accepts a base32 secret, an otpauth:// URI or a `...secret=XXX&...` fragment."""
    text = urllib.parse.unquote((text or "").strip())
    if text.lower().startswith("otpauth://"):
        text = urllib.parse.parse_qs(urllib.parse.urlparse(text).query).get("secret", [""])[0]
    elif "secret=" in text.lower():
        start = text.lower().index("secret=") + len("secret=")
        text = text[start:].split("&", 1)[0]
    text = "".join(c for c in text.upper() if c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    if not text:
        return None
    try:
        return base64.b32decode(text + "=" * ((8 - len(text) % 8) % 8))
    except (binascii.Error, ValueError):
        return None


def totp_code(key, step):
    """RFC 6238: HMAC-SHA1, 6 digits, 30-second steps."""
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1000000:06d}"


def trend_verdict(summary, min_errors):
    """The preventive rule: errors rose two days running (three rising days) and today's count
    reached the threshold. Returns (incident, errors_today, pretrade_blocked_24h)."""
    trend = summary.get("trends_7d") or []
    errors = [int(day.get("errors_total") or 0) for day in trend[-3:]]
    rising = len(errors) == 3 and errors[0] < errors[1] < errors[2]
    today = errors[-1] if errors else 0
    blocked = int((summary.get("recent_events") or {}).get("pretrade_blocked_last_24h") or 0)
    return rising and today >= min_errors, today, blocked


def main(argv):
    if not argv:
        raise SystemExit("usage: ops.py get|has-action|count|json|form|totp|trend|self-test ...")
    command, args = argv[0], argv[1:]
    if command == "get":
        # get PATH: a field of the JSON object on stdin (dotted path, list indexes allowed).
        data = load_stdin()
        print(show(lookup(data, args[0]) if data is not None else None))
    elif command == "is-list":
        print("true" if isinstance(load_stdin(), list) else "false")
    elif command == "is-object":
        print("true" if isinstance(load_stdin(), dict) else "false")
    elif command == "count":
        data = load_stdin()
        found = lookup(data, args[0]) if args and args[0] != "." else data
        print(len(found) if isinstance(found, list) else 0)
    elif command == "has-action":
        # has-action A [B ...]: whether any event of the audit list on stdin has one of them.
        data = load_stdin()
        events = data if isinstance(data, list) else []
        print("true" if any(e.get("action") in args for e in events if isinstance(e, dict)) else "false")
    elif command == "has-exchange":
        data = load_stdin()
        rows = data if isinstance(data, list) else []
        print("true" if any(r.get("exchange") == args[0] for r in rows if isinstance(r, dict)) else "false")
    elif command == "json":
        print(build_json(args))
    elif command == "form":
        print(build_form(args), end="")
    elif command == "totp":
        # totp VAR [--next]: the current code for the secret in variable VAR; --next waits for
        # the next 30-second step first (the daemon refuses a code it accepted before).
        key = totp_key(os.environ.get(args[0], ""))
        if key is None:
            raise SystemExit(1)
        now = time.time()
        step = int(now // TOTP_STEP)
        if "--next" in args:
            time.sleep((step + 1) * TOTP_STEP - now + 0.2)
            step += 1
        print(totp_code(key, step))
    elif command == "trend":
        # trend MIN_ERRORS: reads the dashboard summary; prints "incident today blocked".
        summary = load_stdin() or {}
        incident, today, blocked = trend_verdict(summary, int(args[0]))
        print(f"{'true' if incident else 'false'} {today} {blocked}")
    elif command == "self-test":
        self_test()
    else:
        raise SystemExit(f"ops.py: unknown command {command}")


def self_test():
    # RFC 6238 appendix B, SHA-1 secret "12345678901234567890" at T=59 → 94287082 (8 digits).
    key = b"12345678901234567890"
    assert totp_code(key, 59 // 30) == "287082", totp_code(key, 1)
    b32 = base64.b32encode(key).decode()
    assert totp_key(b32) == key
    assert totp_key(f"otpauth://totp/x:y?secret={b32}&issuer=x") == key
    day = lambda n: {"errors_total": n}
    assert trend_verdict({"trends_7d": [day(1), day(5), day(12)]}, 10)[0]
    assert not trend_verdict({"trends_7d": [day(1), day(5), day(9)]}, 10)[0]
    assert not trend_verdict({"trends_7d": [day(12), day(12), day(13)]}, 10)[0]
    assert not trend_verdict({"trends_7d": [day(11), day(30)]}, 10)[0]
    assert build_form(["username=a@b.c", "password=p&q", "otp="]) == "username=a%40b.c&password=p%26q"
    assert json.loads(build_json(["qty:=0.5", "side=BUY"])) == {"qty": 0.5, "side": "BUY"}
    print("ops.py self-test ok")


if __name__ == "__main__":
    main(sys.argv[1:])
