#!/usr/bin/env bash
# Installs the reverse proxies whose sample configurations (deploy/) tests/deploy.rs runs in front
# of two daemons: Debian's nginx-light and haproxy, when they are not there yet. Needs root (CI
# and the developer machines run as root); prints what it found either way.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have nginx && have haproxy; then
  echo "proxy: $(nginx -v 2>&1); $(haproxy -v 2>/dev/null | head -1)"
  exit 0
fi

if [ "$(id -u)" != "0" ]; then
  echo "proxy: nginx/haproxy missing and not root: install the nginx-light and haproxy packages" >&2
  exit 1
fi

echo "proxy: installing nginx-light and haproxy with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends nginx-light haproxy >/dev/null
# Installed to be run by the tests, not as services of this machine.
for service in nginx haproxy; do
  if have service; then service "$service" stop >/dev/null 2>&1 || true; fi
done
echo "proxy: $(nginx -v 2>&1); $(haproxy -v 2>/dev/null | head -1)"
