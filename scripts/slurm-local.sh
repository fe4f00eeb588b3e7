#!/usr/bin/env bash
# slurm-local.sh - a throwaway one-node Slurm for tests and trials.
#
#   scripts/slurm-local.sh start DIR [CPUS]   starts munged, slurmctld and
#                                             slurmd with every file in DIR
#   scripts/slurm-local.sh stop DIR           stops what start started there
#
# Nothing under /etc changes and nothing else is stopped: the daemons run
# as root with their configuration, keys, sockets, spool, state and logs in
# DIR, and stop kills only the PIDs that start wrote there. The node poses
# as CPUS CPUs (default 8) whatever the machine has, so that jobs of several
# tasks fit on a small machine. After start, point the clients at it:
#
#   export SLURM_CONF=DIR/slurm.conf
#   sbatch --wait job.sh
#
# Exit status: 0 ready (the node is idle), 2 usage, 3 cannot start (the
# packages are missing, or a daemon would not come up; the line says which
# and where its log is). Installs nothing: scripts/setup.sh does (the
# slurmctld, slurmd, slurm-client and munge packages).
set -u

usage() {
  echo "usage: $0 start DIR [CPUS] | stop DIR" >&2
  exit 2
}

die() {
  echo "slurm-local: $*" >&2
  exit 3
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
cpus=${3:-8}

stop() {
  for name in slurmd slurmctld munged; do
    pidf="$dir/$name.pid"
    [ -s "$pidf" ] || continue
    pid=$(cat "$pidf")
    # Only a process that is still the daemon we started.
    if [ -r "/proc/$pid/cmdline" ] &&
      tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$name"; then
      kill "$pid" 2>/dev/null
      for _ in $(seq 50); do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
        [ -z "$state" ] || [ "$state" = Z ] && break
        sleep 0.1
      done
      kill -9 "$pid" 2>/dev/null
    fi
    rm -f "$pidf"
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  for b in munged slurmctld slurmd sbatch srun squeue scontrol; do
    command -v "$b" >/dev/null 2>&1 ||
      [ -x "/usr/sbin/$b" ] || die "$b is not installed (apt-get install slurmctld slurmd slurm-client munge)"
  done
  case "$cpus" in '' | *[!0-9]*) usage ;; esac
  mkdir -p "$dir" || die "cannot create $dir"
  dir=$(cd "$dir" && pwd)
  stop
  host=$(hostname -s)
  mkdir -p "$dir/munge" "$dir/ctld" "$dir/spool" "$dir/tmp" "$dir/keys"
  # munged wants its key folder private and every folder above its socket
  # searchable.
  chmod 700 "$dir/keys"
  chmod 755 "$dir" "$dir/munge"
  d=$dir
  while [ "$d" != / ]; do
    chmod o+x "$d" 2>/dev/null
    d=$(dirname "$d")
  done
  [ -s "$dir/keys/munge.key" ] ||
    dd if=/dev/urandom of="$dir/keys/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/keys/munge.key"
  /usr/sbin/munged --force --socket="$dir/munge/munge.socket" \
    --key-file="$dir/keys/munge.key" --pid-file="$dir/munged.pid" \
    --log-file="$dir/munged.log" --seed-file="$dir/keys/munge.seed" ||
    die "munged would not start (log: $dir/munged.log)"

  ctld_port=$(free_port)
  d_port=$(free_port)
  cat >"$dir/slurm.conf" <<EOF
ClusterName=loomlocal
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
TmpFS=$dir/tmp
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
SlurmdParameters=config_overrides
MailProg=/bin/true
MinJobAge=4
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$dir/slurm.conf"
  /usr/sbin/slurmctld -i -f "$SLURM_CONF" ||
    die "slurmctld would not start (log: $dir/slurmctld.log)"
  /usr/sbin/slurmd -f "$SLURM_CONF" ||
    die "slurmd would not start (log: $dir/slurmd.log)"
  for _ in $(seq 100); do
    state=$(sinfo -h -o %t 2>/dev/null)
    case "$state" in idle*) echo "slurm-local: ready in $dir (SLURM_CONF=$SLURM_CONF)"; return 0 ;; esac
    sleep 0.2
  done
  die "the node never came up (state '${state:-none}'; logs in $dir)"
}

case "$cmd" in
start) start ;;
stop) stop ;;
*) usage ;;
esac
