#!/usr/bin/env bash
# `npm test`: the same set-up as `npm start`, then every test: UI unit tests
# (Vitest), Rust unit and integration tests, browser end-to-end tests against
# `quire serve`, and the real desktop window under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The shared fixtures and corpus sit beside the checkout.
export QUIRE_SHARED="${QUIRE_SHARED:-$(cd .. && pwd)/shared}"
if [ ! -d "$QUIRE_SHARED/fixtures" ]; then
  echo "test data not found at $QUIRE_SHARED (set QUIRE_SHARED)" >&2
  exit 1
fi
step() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

step "UI type check and unit tests"
npm run --silent ui:check
npm run --silent test:ui
step "UI build"
npm run --silent ui:build
step "Rust tests"
cargo test --workspace --locked
step "desktop shell configuration (capability, CSP, plugins)"
node --test tests/desktop/
step "browser tests (quire serve + Chromium)"
npm run --silent test:browser
step "OpenAI-compatible API (the openai Python client against quire serve)"
npm run --silent test:openai
step "desktop window test (tauri-driver + WebKitWebDriver under Xvfb)"
bash scripts/test-window.sh
step "all tests passed"
