#!/usr/bin/env bash
# `npm test`: the same set-up as `npm start`, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The shared fixtures and corpus sit beside the checkout.
export QUIRE_SHARED="${QUIRE_SHARED:-$(cd .. && pwd)/shared}"
if [ ! -d "$QUIRE_SHARED/fixtures" ]; then
  echo "test data not found at $QUIRE_SHARED (set QUIRE_SHARED)" >&2
  exit 1
fi
cargo test --workspace --locked
