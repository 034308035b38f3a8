#!/usr/bin/env bash
# `npm start`: set up, build, and run Quire. The desktop app does not exist
# yet, so this runs the `quire` command-line app: `npm start -- <command> …`
# passes a command through (e.g. `npm start -- import ~/Documents`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --locked --workspace
bin="${CARGO_TARGET_DIR:-target}/debug/quire"
if [ "$#" -eq 0 ]; then
  echo
  echo "Quire's desktop window is not built yet; this is the command-line app."
  echo "Try: npm start -- import <files or folders>   then   npm start -- search \"your question\""
  echo
  "$bin" --help
  echo
  exec "$bin" docs
fi
exec "$bin" "$@"
