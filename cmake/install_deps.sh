#!/usr/bin/env bash
# Installs, from Debian's archive, whatever the build needs and is missing.
#   cmake/install_deps.sh          build + tests
#   cmake/install_deps.sh --bench  also PyTorch, numpy and OpenBLAS (benchmarks, fixture
#                                  regeneration); with OpenBLAS installed, Debian's libblas.so.3
#                                  points at it instead of the slow reference BLAS
#   cmake/install_deps.sh --ci     also what .ci/run needs beyond the tests: clang with libFuzzer
#                                  and its OpenMP (the 'fuzz' preset); the 'asan-ubsan' preset
#                                  uses GCC's sanitizers, which come with g++
set -euo pipefail
packages=(cmake make g++ libeigen3-dev nlohmann-json3-dev libcli11-dev libboost-test-dev)
if [[ "${1:-}" == "--bench" ]]; then packages+=(python3-torch python3-numpy libopenblas0-pthread); fi
if [[ "${1:-}" == "--ci" ]]; then packages+=(clang libclang-rt-14-dev libomp-14-dev); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
