#!/usr/bin/env bash
# The demo: installs what is missing, builds, then runs two real jobs through
# mpirun on all local cores (one master + one worker per core):
#   1. tasks/examples/sweep.txt, a task file of shell commands;
#   2. the built-in `primes` kind, whose answer is checked.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${LOOM_BUILD_DIR:-$root/build}
"$root/scripts/setup.sh" "$build"
loom=$build/engine/loom
np=$(($(nproc) + 1))
out=${LOOM_DEMO_DIR:-$root/demo-runs}
mkdir -p "$out"
stamp=$(date +%Y%m%d-%H%M%S)

echo
echo "== 1. a task file of shell commands: $root/tasks/examples/sweep.txt"
echo "   mpirun -np $np loom run --output $out/sweep-$stamp tasks/examples/sweep.txt"
set +e
(cd "$root" && "$root/scripts/mpirun.sh" "$np" "$loom" run --output "$out/sweep-$stamp" \
  tasks/examples/sweep.txt)
st1=$?
echo "   exit status $st1; first rows of joblog.tsv:"
head -n 5 "$out/sweep-$stamp/joblog.tsv" | cut -f1-9 | column -t -s $'\t' | sed 's/^/   /'

echo
echo "== 2. a built-in computation: primes below 10^8 in 64 tasks"
echo "   mpirun -np $np loom run --output $out/primes-$stamp --kind primes --count 64 --arg limit=100000000"
"$root/scripts/mpirun.sh" "$np" "$loom" run --output "$out/primes-$stamp" \
  --kind primes --count 64 --arg limit=100000000
st2=$?
set -e
echo
echo "outputs: $out/sweep-$stamp and $out/primes-$stamp"
echo "         (joblog.tsv, report.json, out/, result.txt)"
[ "$st1" -eq 0 ] && [ "$st2" -eq 0 ]
