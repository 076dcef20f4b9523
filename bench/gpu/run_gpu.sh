#!/usr/bin/env bash
# The GPU session's one command (an H100/H200 machine with this image): configure for sm_90,
# build, run the CUDA tests (here a skip is a failure: the device must be used), then the GPU
# benchmark beside PyTorch, and print the table for bench/RESULTS.md. Exits non-zero when a
# test failed or was skipped.
#
#   bench/gpu/run_gpu.sh [all|build|test|bench]     (default: all; each stage fits 10 minutes)
#
# Environment: BUILD (default build-gpu), OUT (default $BUILD/bench-gpu), BENCH_ARGS (extra
# flags for both benchmark sides, e.g. "--steps 10"), PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-gpu}
OUT=${OUT:-$BUILD/bench-gpu}
PYTHON=${PYTHON:-python3}
stage=${1:-all}
t0=$SECONDS
say() { echo "=== $* (at $((SECONDS - t0)) s)" >&2; }

build() {
  say "configure ($BUILD, sm_90) and build"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DTOKCLEAN_CUDA=ON
  cmake --build "$BUILD" -j"$(nproc)" --target test_cuda_ops test_cuda_model test_cuda_llama bench_gpu test_model test_backend_cpu
}

tests() {
  say "CUDA tests (against the CPU backend)"
  local failed=0
  for t in test_cuda_ops test_cuda_model test_cuda_llama; do
    set +e
    "$BUILD/tests/cuda/$t" --log_level=test_suite --report_level=short
    rc=$?
    set -e
    if [ $rc -eq 77 ]; then echo "$t: skipped: no CUDA device visible" >&2; failed=1
    elif [ $rc -ne 0 ]; then echo "$t: FAILED (exit $rc)" >&2; failed=1; fi
  done
  say "CPU model tests (unchanged by the GPU backend)"
  "$BUILD/tests/test_model" --report_level=short && "$BUILD/tests/test_backend_cpu" --report_level=short || failed=1
  return $failed
}

bench() {
  mkdir -p "$OUT"
  say "tokclean benchmark -> $OUT/tokclean.jsonl"
  # shellcheck disable=SC2086
  "$BUILD/bench/bench_gpu" ${BENCH_ARGS:-} | tee "$OUT/tokclean.jsonl"
  if ! "$PYTHON" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    echo "$PYTHON has no CUDA-enabled torch: set PYTHON to the interpreter that has it; tokclean's numbers stand alone" >&2
    "$PYTHON" bench/gpu/compare_gpu.py "$OUT"/tokclean.jsonl | tee "$OUT/table.md"
    return 1
  fi
  say "PyTorch benchmark (eager) -> $OUT/pytorch.jsonl"
  # shellcheck disable=SC2086
  "$PYTHON" bench/gpu/pytorch_gpu.py ${BENCH_ARGS:-} | tee "$OUT/pytorch.jsonl"
  say "PyTorch benchmark (torch.compile, bf16) -> $OUT/pytorch_compile.jsonl"
  # shellcheck disable=SC2086
  "$PYTHON" bench/gpu/pytorch_gpu.py --compile --modes bf16 ${BENCH_ARGS:-} | tee "$OUT/pytorch_compile.jsonl" ||
    echo "torch.compile run failed; the eager numbers stand" >&2
  say "table"
  "$PYTHON" bench/gpu/compare_gpu.py "$OUT"/tokclean.jsonl "$OUT"/pytorch*.jsonl | tee "$OUT/table.md"
}

rc=0
case "$stage" in
  build) build ;;
  test) tests || rc=$? ;;
  bench) bench || rc=$? ;;
  all) build; tests || rc=$?; bench || rc=$? ;;  # the benchmark runs even after a failed test
  *) echo "usage: $0 [all|build|test|bench]" >&2; exit 2 ;;
esac
say "done (exit $rc)"
exit $rc
