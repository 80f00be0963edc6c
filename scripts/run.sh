#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds progan and runs the main job:
# training on Fashion-MNIST (Debian's dataset-fashion-mnist, 70,000 real images
# padded to 32x32) with the `small` preset, about 15 minutes on 2 CPU cores
# through lavapipe. Results: runs/NNNNN-fashion-mnist-32-32/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
./build/progan devices
if [ ! -f datasets/fashion-mnist-32/69999.jpg ]; then
    ./build/fashion_mnist_to_jpeg datasets/fashion-mnist-32
fi
./build/progan train --data datasets/fashion-mnist-32 --resolution 32 --preset small --out runs "$@"
