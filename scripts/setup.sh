#!/usr/bin/env bash
# Installs what Quire's build and tests need on a Debian machine, then fetches
# the models. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# protobuf-compiler: lance (LanceDB) compiles .proto files at build time.
APT_PACKAGES=(protobuf-compiler pkg-config)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "Rust is required (cargo not found): install it with rustup, then run this again." >&2
  exit 1
fi

python3 scripts/fetch_models.py
