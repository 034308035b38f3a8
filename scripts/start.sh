#!/usr/bin/env bash
# `npm start`: set up, build, and open Quire's desktop window. Without a
# display it says so and serves the same UI with `quire serve` instead.
# `npm start -- <command> …` runs the `quire` command line instead
# (e.g. `npm start -- import ~/Documents`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent ui:build
# The `app` profile (Cargo.toml): the tests' profile with every dependency
# optimised, so LanceDB, Arrow and DataFusion answer queries about as fast as
# in the release build. Its first build is longer than the tests' (it shares
# no compiled code with them); later ones take seconds.
cargo build --locked --workspace --profile app
bin_dir="${CARGO_TARGET_DIR:-target}/app"
if [ "$#" -gt 0 ]; then
  exec "$bin_dir/quire" "$@"
fi
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  exec "$bin_dir/quire-desktop"
fi
echo
echo "No display found (DISPLAY and WAYLAND_DISPLAY are unset), so the desktop window cannot open."
echo "Serving the same app on this machine instead: open the URL below in a browser here."
echo
exec "$bin_dir/quire" serve --ui-dir ui/dist
