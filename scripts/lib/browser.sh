#!/usr/bin/env bash
# Installs the browser the dashboard's real-browser test drives (tests/dashboard_browser.rs):
# Debian's chromium and chromium-driver, when they are not there yet. Needs root (CI and the
# developer machines run as root); prints what it found either way.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have chromium && have chromedriver; then
  echo "browser: $(chromium --version 2>/dev/null | head -1); $(chromedriver --version 2>/dev/null | head -1)"
  exit 0
fi

if [ "$(id -u)" != "0" ]; then
  echo "browser: chromium/chromedriver missing and not root: install the chromium and chromium-driver packages" >&2
  exit 1
fi

echo "browser: installing chromium and chromium-driver with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
echo "browser: $(chromium --version 2>/dev/null | head -1); $(chromedriver --version 2>/dev/null | head -1)"
