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
# llama.cpp is built for the instruction sets Quire itself uses on this CPU
# (AVX2/FMA/F16C, plus AVX-512 when the CPU has it: Quire's GEMM picks its
# AVX-512 kernel at run time, so the peer gets its AVX-512 code too), rather
# than with GGML_NATIVE: a native build stops with an illegal instruction on
# some virtual machines. The flags are stamped in the venv; a change rebuilds.
llama_args="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
  llama_args="$llama_args -DGGML_AVX512=ON"
  grep -qw avx512_vnni /proc/cpuinfo && llama_args="$llama_args -DGGML_AVX512_VNNI=ON"
  grep -qw avx512_bf16 /proc/cpuinfo && llama_args="$llama_args -DGGML_AVX512_BF16=ON"
  grep -qw avx512vbmi /proc/cpuinfo && llama_args="$llama_args -DGGML_AVX512_VBMI=ON"
fi
stamp="$venv/.llama-cmake-args"
if ! "$venv/bin/python" -c 'import llama_cpp' 2>/dev/null || [ "$(cat "$stamp" 2>/dev/null)" != "$llama_args" ]; then
  echo "building llama.cpp (llama-cpp-python) for the peer figures: $llama_args …"
  CMAKE_ARGS="$llama_args" "$venv/bin/pip" install -q --no-cache-dir --force-reinstall --no-deps llama-cpp-python==0.3.36
  "$venv/bin/pip" install -q llama-cpp-python==0.3.36
  echo "$llama_args" > "$stamp"
fi
QUIRE_PEERS="$venv" bash "$shared/bench/setup-peers.sh" models/all-MiniLM-L6-v2
# Which build is measured: by default `app`, the one `npm start` opens (the
# tests' profile with every dependency optimised, Cargo.toml);
# QUIRE_BENCH_PROFILE=release measures the packaged app's profile (its first
# build is long: over an hour on 2 cores), =dev the tests' build (LanceDB,
# Arrow and DataFusion unoptimised: several times slower queries).
target="${CARGO_TARGET_DIR:-target}"
profile="${QUIRE_BENCH_PROFILE:-app}"
case "$profile" in
  release) cargo build --locked --release --bin quire; dir=release ;;
  dev) cargo build --locked --bin quire; dir=debug ;;
  app) cargo build --locked --profile app --bin quire; dir=app ;;
  *) echo "QUIRE_BENCH_PROFILE must be app, release or dev (got $profile)" >&2; exit 2 ;;
esac
exec "$target/$dir/quire" bench --shared "$shared" --peers "$venv" "$@"
