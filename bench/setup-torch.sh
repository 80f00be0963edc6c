#!/usr/bin/env bash
# Installs what bench/side_by_side.py and bench/torch_step.py need (Debian's
# python3-torch). Benchmarks only: never called by the build, the tests or CI.
set -euo pipefail
if dpkg-query -W -f='${Status}' python3-torch 2>/dev/null | grep -q "install ok installed"; then
    exit 0
fi
SUDO=
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "setup-torch: python3-torch is missing; run this script as root" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
