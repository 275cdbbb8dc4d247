# shellcheck shell=bash
# Sourced by .ci/run and scripts/test.sh: `ensure_pytools` creates .local/venv once, installs the
# pinned tools of scripts/lib/pytools.txt (linters, the schemathesis fuzzer; again only when that
# list changes) and puts them first on PATH.
ensure_pytools() {
  local root; root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  local venv="$root/.local/venv" list="$root/scripts/lib/pytools.txt"
  if [ ! -x "$venv/bin/python" ]; then
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing python3-venv…" >&2
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv) >&2
      fi
      rm -rf "$venv"
      python3 -m venv "$venv"
    fi
  fi
  if ! cmp -s "$list" "$venv/.installed"; then
    echo "installing the tools of $list into $venv…" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$list" >&2
    cp "$list" "$venv/.installed"
  fi
  export PATH="$venv/bin:$PATH"
}
