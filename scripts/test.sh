#!/usr/bin/env bash
# Runs the whole test suite: the release build's tests, then the same tests built with
# AddressSanitizer + UndefinedBehaviorSanitizer (clang). Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

cmake --build build
ctest --test-dir build --output-on-failure -j "$jobs"

# The sanitizer build uses clang: its UndefinedBehaviorSanitizer checks more than GCC's (null
# pointer offsets, for one), and CI then compiles the tree with both compilers.
CXX=clang++ cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDSX_SANITIZE=ON \
  -DDSX_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS="-O1" >/dev/null
cmake --build build-sanitize
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-sanitize --output-on-failure -j "$jobs"
