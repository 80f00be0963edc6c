#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds progan and runs the whole test suite
# (every test under the Vulkan validation layer, on lavapipe when there is no GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)"
