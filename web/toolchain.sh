#!/usr/bin/env bash
# What the dashboard's build and browser tests need, checked (and installed where allowed).
#   toolchain.sh node      exit 0 if Node.js and npm can build the dashboard, else say why (exit 3)
#   toolchain.sh chromium  exit 0 if a Chromium is installed; as root on Debian/Ubuntu install the
#                          distribution's package first; else say why (exit 3)
set -uo pipefail

# Vite 8 needs Node ^20.19 or >= 22.12 (its package.json "engines").
NODE_MIN_20=19
NODE_MIN_22=12

node_ok() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "Node.js and npm not found (install Node.js 20.19+ or 22.12+)"
    return 3
  fi
  local version major minor
  version=$(node -p 'process.versions.node')
  major=${version%%.*}
  minor=${version#*.}; minor=${minor%%.*}
  if (( major < 20 || (major == 20 && minor < NODE_MIN_20) || (major == 21) || (major == 22 && minor < NODE_MIN_22) )); then
    echo "Node.js $version is too old for Vite 8 (needs 20.19+ or 22.12+)"
    return 3
  fi
}

chromium_ok() {
  if command -v chromium >/dev/null; then return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && grep -qiE '^ID(_LIKE)?=.*(debian|ubuntu)' /etc/os-release 2>/dev/null; then
    echo "installing the distribution's chromium for the browser tests (apt-get)" >&2
    if DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2 \
      && command -v chromium >/dev/null; then
      return 0
    fi
    echo "apt-get could not install chromium"
    return 3
  fi
  echo "chromium not found (apt-get install chromium, as root on Debian or Ubuntu)"
  return 3
}

case "${1:-}" in
  node) node_ok ;;
  chromium) chromium_ok ;;
  *) echo "usage: $0 node|chromium" >&2; exit 2 ;;
esac
