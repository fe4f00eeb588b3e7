#!/usr/bin/env bash
# netns-hosts.sh - several "hosts" on this machine, for running loom across
# hosts without a cluster: each host is a network namespace with its own
# address on a private subnet (10.77.N.0/24), joined by a bridge in a
# namespace of its own. Traffic goes only to those addresses.
#
#   scripts/netns-hosts.sh up NAME N     makes hosts NAME1..NAMEN
#   scripts/netns-hosts.sh down NAME N   removes them
#   scripts/netns-hosts.sh agent NAME HOST CMD...
#                                        runs CMD on HOST (in its namespace,
#                                        with its hostname): Open MPI's
#                                        rsh agent (plm_rsh_agent)
#   scripts/netns-hosts.sh subnet NAME   prints the subnet (for
#                                        btl_tcp_if_include)
#
# Needs root, iproute2 and util-linux (nsenter, unshare). The hosts share
# this machine's cores: start ranks with --bind-to none. Exit status: 0,
# 2 usage, 3 the namespaces could not be made (the line says why).
set -u

usage() {
  echo "usage: $0 up|down NAME N | agent NAME HOST CMD... | subnet NAME" >&2
  exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
name=$2
# Open MPI drops a one-letter word from an rsh agent's command line.
[ ${#name} -ge 2 ] || { echo "netns-hosts: NAME of two characters or more" >&2; exit 2; }
# One /24 per NAME, from its characters, so that two sets do not collide.
net=$(($(printf '%s' "$name" | cksum | cut -d' ' -f1) % 200 + 20))
subnet=10.77.$net.0/24

case "$cmd" in
subnet)
  echo "$subnet"
  exit 0
  ;;
agent)
  [ $# -ge 4 ] || usage
  host=$3
  shift 3
  # Open MPI passes the remote command as ssh would: words for a shell.
  exec nsenter --net="/run/netns/$host" unshare --uts \
    sh -c 'hostname "$0" && exec sh -c "$*"' "$host" "$@"
  ;;
up | down)
  [ $# -eq 3 ] || usage
  n=$3
  case "$n" in '' | *[!0-9]*) usage ;; esac
  ;;
*) usage ;;
esac

br=${name}br
down() {
  for i in $(seq "$n"); do
    ip netns del "$name$i" 2>/dev/null
  done
  ip netns del "$br" 2>/dev/null
  return 0
}

if [ "$cmd" = down ]; then
  down
  exit 0
fi

fail() {
  echo "netns-hosts: $*" >&2
  down
  exit 3
}

[ "$(id -u)" -eq 0 ] || fail "needs root"
down
ip netns add "$br" || fail "cannot make network namespaces"
ip -n "$br" link add br0 type bridge || fail "no bridge in a namespace"
ip -n "$br" link set br0 up
for i in $(seq "$n"); do
  h=$name$i
  ip netns add "$h" || fail "cannot make namespace $h"
  ip link add "${name:0:6}$i" netns "$h" type veth peer name "p$i" \
    netns "$br" || fail "cannot make a veth pair for $h"
  ip -n "$h" link set "${name:0:6}$i" name eth0
  ip -n "$h" addr add "10.77.$net.$i/24" dev eth0
  ip -n "$h" link set eth0 up
  ip -n "$h" link set lo up
  ip -n "$br" link set "p$i" master br0
  ip -n "$br" link set "p$i" up
done
echo "netns-hosts: $n hosts ${name}1..$name$n on $subnet"
