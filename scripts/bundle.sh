#!/usr/bin/env bash
# `npm run bundle`: an installable .deb of the desktop app, built offline.
# The default models (MiniLM + SmolLM2, ≈ 190 MB) are packaged inside it, so
# the installed app works without any download. Extra arguments go to
# `tauri build` (e.g. `npm run bundle -- --debug` reuses the test build and
# takes minutes instead of a full optimised build).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tauri build --bundles deb "$@"
find "${CARGO_TARGET_DIR:-target}" -path '*bundle/deb/*.deb' -newer package.json -print
