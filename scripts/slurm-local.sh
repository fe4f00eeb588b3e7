#!/usr/bin/env bash
# slurm-local.sh - a throwaway one-node Slurm for tests and trials.
#
#   scripts/slurm-local.sh start DIR [CPUS]   starts munged, slurmctld and
#                                             slurmd with every file in DIR
#   scripts/slurm-local.sh start DIR CPUS NAME N
#                                             a cluster of N nodes instead:
#                                             the hosts NAME1..NAMEN that
#                                             scripts/netns-hosts.sh made,
#                                             one slurmd in each, slurmctld
#                                             in NAME1
#   scripts/slurm-local.sh run DIR CMD...     runs a client command (sbatch,
#                                             squeue...) where it reaches
#                                             slurmctld (NAME1, for a
#                                             cluster), SLURM_CONF set
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
  echo "usage: $0 start DIR [CPUS [NAME N]] | run DIR CMD... | stop DIR" >&2
  exit 2
}

# Where the clients reach slurmctld: NAME1's namespace for a cluster.
in_ctld() {
  local h
  h=$(cat "$dir/hosts" 2>/dev/null)
  if [ -n "$h" ]; then
    nsenter --net="/run/netns/${h}1" "$@"
  else
    "$@"
  fi
}

die() {
  echo "slurm-local: $*" >&2
  exit 3
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
cpus=${3:-8}
hosts=${4:-}
nhosts=${5:-0}

stop() {
  # Jobs first, while the daemons that run them are up: a job left running
  # would outlive them.
  if [ -s "$dir/slurmctld.pid" ] && [ -e "$dir/slurm.conf" ]; then
    export SLURM_CONF="$dir/slurm.conf"
    in_ctld timeout 10 scancel --full -u "$(id -un)" 2>/dev/null
    for _ in $(seq 50); do
      [ -z "$(in_ctld timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  for pidf in "$dir"/slurmd*.pid "$dir/slurmctld.pid" "$dir/munged.pid"; do
    [ -s "$pidf" ] || continue
    name=$(basename "$pidf" .pid)
    name=${name%%-*}
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
  if [ -n "$hosts" ]; then
    subnet=$("$(dirname "$0")/netns-hosts.sh" subnet "$hosts")
    net=${subnet%.0/24}
    [ -e "/run/netns/${hosts}1" ] ||
      die "no host ${hosts}1: make them first (scripts/netns-hosts.sh up $hosts $nhosts)"
    echo "$hosts" >"$dir/hosts"
    ctld_host="${hosts}1($net.1)"
    nodes="NodeName=${hosts}[1-$nhosts] NodeAddr=$net.[1-$nhosts] CPUs=$cpus State=UNKNOWN"
    part="PartitionName=local Nodes=${hosts}[1-$nhosts] Default=YES MaxTime=INFINITE State=UP"
  else
    rm -f "$dir/hosts"
    host=$(hostname -s)
    ctld_host="$host(127.0.0.1)"
    nodes="NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN"
    part="PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP"
  fi
  cat >"$dir/slurm.conf" <<EOF
ClusterName=loomlocal
SlurmctldHost=$ctld_host
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd-%n.log
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
$nodes
$part
EOF
  export SLURM_CONF="$dir/slurm.conf"
  if [ -n "$hosts" ]; then # it checks that its hostname is SlurmctldHost's
    nsenter --net="/run/netns/${hosts}1" unshare --uts sh -c \
      'hostname "$0" && exec /usr/sbin/slurmctld -i -f "$1"' \
      "${hosts}1" "$SLURM_CONF"
  else
    /usr/sbin/slurmctld -i -f "$SLURM_CONF"
  fi || die "slurmctld would not start (log: $dir/slurmctld.log)"
  if [ -n "$hosts" ]; then
    for i in $(seq "$nhosts"); do
      mkdir -p "$dir/spool/$hosts$i"
      # Each node its own TmpFS (Slurm's PMIx makes per-step folders
      # there that would collide): a bind mount in a mount namespace.
      mkdir -p "$dir/tmp-$hosts$i"
      nsenter --net="/run/netns/$hosts$i" unshare --uts --mount sh -c \
        'hostname "$0" && mount --bind "$2-$0" "$2" &&
         exec /usr/sbin/slurmd -f "$1" -N "$0"' \
        "$hosts$i" "$SLURM_CONF" "$dir/tmp" ||
        die "slurmd would not start on $hosts$i (log: $dir/slurmd-$hosts$i.log)"
    done
    want=$nhosts
  else
    mkdir -p "$dir/spool/$host"
    /usr/sbin/slurmd -f "$SLURM_CONF" ||
      die "slurmd would not start (log: $dir/slurmd-$host.log)"
    want=1
  fi
  for _ in $(seq 100); do
    idle=$(in_ctld sinfo -h -N -o %t 2>/dev/null | grep -c '^idle')
    if [ "$idle" -ge "$want" ]; then
      echo "slurm-local: ready in $dir (SLURM_CONF=$SLURM_CONF; $want node(s))"
      return 0
    fi
    sleep 0.2
  done
  die "the nodes never came up ($idle of $want idle; logs in $dir)"
}

case "$cmd" in
start) start ;;
stop) stop ;;
run)
  shift 2
  [ $# -ge 1 ] || usage
  export SLURM_CONF="$dir/slurm.conf"
  in_ctld "$@"
  ;;
*) usage ;;
esac
