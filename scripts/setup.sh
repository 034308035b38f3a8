#!/usr/bin/env bash
# Installs what Quire's build and tests need on a Debian machine, then fetches
# the models. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# protobuf-compiler: lance (LanceDB) compiles .proto files at build time;
# libprotobuf-dev holds the well-known types they import (google/protobuf/empty.proto),
# only "recommended" by protobuf-compiler, so not installed with --no-install-recommends.
# webkit2gtk/gtk/rsvg/appindicator: the Tauri desktop window.
# xvfb, webkit2gtk-driver: the real-window test (tauri-driver drives WebKitWebDriver).
# chromium: the browser tests (playwright-core drives Debian's Chromium; nothing downloads a browser).
# tesseract-ocr (+ English data, osd for page orientation) and poppler-utils
# (pdftoppm renders PDF pages): OCR of scans and images, run as programs by the
# readers (crates/quire-readers/src/ocr.rs); poppler-data: the CMaps poppler
# needs for Chinese, Japanese and Korean fonts (only "recommended" by
# poppler-utils); catdoc: the text of Word 97–2003 .doc files (no Rust library
# reads them; run as a program by crates/quire-readers/src/doc.rs); the .deb
# depends on them too.
APT_PACKAGES=(
  protobuf-compiler libprotobuf-dev pkg-config
  libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev
  xvfb xauth webkit2gtk-driver
  chromium fonts-dejavu-core
  tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd poppler-utils poppler-data catdoc
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "Rust is required (cargo not found): install it with rustup, then run this again." >&2
  exit 1
fi
if ! command -v npm >/dev/null; then
  echo "Node.js and npm are required: install them (Debian: apt install nodejs npm), then run this again." >&2
  exit 1
fi

# The web UI's packages at the locked versions (no browser downloads:
# playwright-core only). `npm install`, not `npm ci`: the lock lists only the
# platform packages (rollup, tauri-cli, esbuild) the registry serves here, and
# `npm ci` refuses a lock without every platform's optional package.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing the UI's npm packages"
  npm install --no-audit --no-fund --loglevel=error
fi

python3 scripts/fetch_models.py
