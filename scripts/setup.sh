#!/usr/bin/env bash
# Installs what loom needs (Debian/Ubuntu packages) and builds it.
#   scripts/setup.sh [BUILD_DIR] [extra cmake args...]
# Idempotent: installs only missing packages, reconfigures only when needed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
shift || true

packages=(openmpi-bin libopenmpi-dev hwloc libhwloc-dev libcmocka-dev cmake
          pkg-config gcc make python3 clang-format gnuplot-nox bsdextrautils
          clang libclang-rt-14-dev clang-tidy cppcheck valgrind
          slurmctld slurmd slurm-client munge)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    sudo=sudo
  else
    sudo=
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
echo "setup: built $build/engine/loom"
