#!/usr/bin/env bash
# The real desktop window: the Tauri app driven through tauri-driver and
# WebKitWebDriver (Debian's webkit2gtk-driver) on a virtual X display.
# Needs Xvfb (or a real DISPLAY); installs tauri-driver from crates.io once.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${QUIRE_SKIP_WINDOW_TEST:-}" = 1 ]; then
  echo "window test skipped (QUIRE_SKIP_WINDOW_TEST=1); run it with: npm run test:window"
  exit 0
fi
bin="${CARGO_TARGET_DIR:-target}/debug/quire-desktop"
if [ ! -x "$bin" ]; then
  echo "building the desktop app"
  npm run --silent ui:build
  cargo build --locked --workspace
fi
if ! command -v WebKitWebDriver >/dev/null; then
  echo "window test skipped: WebKitWebDriver is missing (apt install webkit2gtk-driver)" >&2
  exit 0
fi
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v tauri-driver >/dev/null; then
  echo "installing tauri-driver"
  cargo install tauri-driver --locked --quiet
fi
export QUIRE_DESKTOP_BIN="$bin"
if [ -n "${DISPLAY:-}" ]; then
  exec node --test tests/window/
elif command -v xvfb-run >/dev/null; then
  exec xvfb-run -a -s "-screen 0 1400x900x24" node --test tests/window/
else
  echo "window test skipped: no display and no Xvfb (apt install xvfb)" >&2
fi
