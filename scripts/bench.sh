#!/usr/bin/env bash
# `npm run bench`: the same set-up as `npm start`, the peers (sentence-transformers,
# ONNX Runtime, llama.cpp) in a virtualenv outside the repo, then `quire bench`,
# which measures Quire and the peers in one run and prints the table kept in
# BENCHMARKS.md. Extra arguments go to `quire bench` (e.g. `-- --only embed`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
shared="${QUIRE_SHARED_DIR:-../shared}"
venv="${QUIRE_PEERS:-$HOME/.cache/quire-peers}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# llama.cpp is built for AVX2/FMA/F16C rather than for the exact CPU: a
# GGML_NATIVE build stops with an illegal instruction on some virtual machines.
if ! "$venv/bin/python" -c 'import llama_cpp' 2>/dev/null; then
  echo "building llama.cpp (llama-cpp-python) for the peer figures …"
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
    "$venv/bin/pip" install -q llama-cpp-python
fi
QUIRE_PEERS="$venv" bash "$shared/bench/setup-peers.sh" models/all-MiniLM-L6-v2
cargo build --workspace --bin quire
target="${CARGO_TARGET_DIR:-target}"
exec "$target/debug/quire" bench --shared "$shared" --peers "$venv" "$@"
