#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds dsx, and runs the main job on the bundled model:
# a code completion with demo-coder, a small trained DeepSeek-V3-architecture model.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential clang cmake ninja-build pkg-config ca-certificates curl \
  nlohmann-json3-dev libcpp-httplib-dev libpcre2-dev libcli11-dev \
  libgtest-dev libgmock-dev libbenchmark-dev >/dev/null
# Node.js runs the HTTP client tests (the official openai and ollama npm packages).
command -v npm >/dev/null || $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build

# The main job: complete Python code with the bundled demo-coder model (sampled, seeded).
./build/dsx generate --model models/demo-coder -p $'import os\n\n\ndef list_python_files(path):\n' \
  -n 80 --temp 0.6 --seed 7 --timings
