#!/usr/bin/env bash
# mpirun with the flags a single machine needs: root allowed, more ranks
# than cores allowed, TCP kept on loopback, and the ob1 messaging layer (the
# one a single machine uses: Open MPI's default first tries the cm layer,
# whose PSM and PSM2 probes for Omni-Path hardware cost 0.2 s a start).
# Used by the demo and benchmarks.
#   scripts/mpirun.sh NP COMMAND [ARGS...]
set -euo pipefail
np=$1
shift
flags=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
export OMPI_MCA_btl_tcp_if_include=${OMPI_MCA_btl_tcp_if_include:-lo}
export OMPI_MCA_oob_tcp_if_include=${OMPI_MCA_oob_tcp_if_include:-lo}
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1}
exec mpirun "${flags[@]}" -np "$np" "$@"
