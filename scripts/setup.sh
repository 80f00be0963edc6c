#!/usr/bin/env bash
# Installs every Debian 12 package that progan's build, tests and demo need.
# Idempotent: when everything is present it prints nothing and changes nothing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git python3
  libvulkan-dev mesa-vulkan-drivers glslang-tools spirv-tools
  vulkan-validationlayers vulkan-tools
  libturbojpeg0-dev libjpeg-turbo-progs libpng-dev libcjson-dev libxxhash-dev
  zlib1g-dev libgomp1 file dataset-fashion-mnist python3-pil
  libopenmpi-dev openmpi-bin
  liblapacke-dev libopenblas-dev
  clang-14 libfuzzer-14-dev libclang-rt-14-dev libomp-14-dev # fuzz.sh, sanitize.sh (ASan+UBSan)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "setup: missing packages: ${missing[*]}; run this script as root" >&2
    exit 1
  fi
else
  SUDO=
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
