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
# Always through cargo: a build cache reused from another commit may hold an
# older binary; when it is current this takes seconds.
echo "building the desktop app"
[ -f ui/dist/index.html ] || npm run --silent ui:build
cargo build --locked --workspace
if ! command -v WebKitWebDriver >/dev/null; then
  echo "window test skipped: WebKitWebDriver is missing (apt install webkit2gtk-driver)" >&2
  exit 0
fi
# tauri-driver is installed once from crates.io into a tools directory kept
# outside the checkout, like the build cache.
tools="${QUIRE_TOOLS_DIR:-$HOME/.cache/quire/tools}"
if [ ! -x "$tools/bin/tauri-driver" ]; then
  echo "installing tauri-driver into $tools"
  cargo install tauri-driver --locked --quiet --root "$tools"
fi
export PATH="$tools/bin:$PATH"
export QUIRE_DESKTOP_BIN="$bin"
if [ -n "${DISPLAY:-}" ]; then
  exec node --test tests/window/
elif command -v xvfb-run >/dev/null; then
  exec xvfb-run -a -s "-screen 0 1400x900x24" node --test tests/window/
else
  echo "window test skipped: no display and no Xvfb (apt install xvfb)" >&2
fi
