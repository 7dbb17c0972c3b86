#!/usr/bin/env bash
# A second real libvirt host for the integration tests, next to the machine's qemu:///system:
# libvirtd and virtlogd with the QEMU driver in a network and mount namespace of their own
# (their own /run/libvirt, /var/lib/libvirt, /etc/libvirt, /var/log/libvirt and
# /var/cache/libvirt, under DIR), reached as qemu+tcp://198.18.77.2/system over a veth pair
# this script makes (198.18.0.0/15 is set aside for network tests, RFC 2544). TCP with auth
# "none" listens on that namespace's address only. libvirtd runs in a loop under tini (a
# subreaper: the QEMU processes it daemonizes are reaped): "kill" sends it SIGKILL and holds it
# down, as a host lost mid-course; "revive" lets it start again, and it takes its running
# domains back.
#
#   second-libvirtd.sh start DIR    (first removes what a crashed earlier run left)
#   second-libvirtd.sh kill DIR
#   second-libvirtd.sh revive DIR
#   second-libvirtd.sh stop DIR     every process of the namespace, the namespace, the veth, DIR
#   second-libvirtd.sh uri
#
# COHORT_H2_NAME (default itest) and COHORT_H2_NET (default 77) let the benchmarks run one of
# their own (namespace cohort-NAME-h2, 198.18.NET.0/30) beside the tests'.
set -euo pipefail

name=${COHORT_H2_NAME:-itest}
net=${COHORT_H2_NET:-77}
ns=cohort-$name-h2
veth=c2h-${name:0:5}-a
peer=c2h-${name:0:5}-b
host_addr=198.18.$net.1
ns_addr=198.18.$net.2
uri=qemu+tcp://$ns_addr/system

say() { printf 'second-libvirtd: %s\n' "$*" >&2; }

answers() { timeout 5 virsh -c "$uri" uri >/dev/null 2>&1; }

wait_up() {
    for _ in $(seq 1 100); do
        answers && return 0
        sleep 0.2
    done
    say "libvirtd in $ns did not answer on $uri; its log: $1/libvirtd.log"
    tail -n 20 "$1/libvirtd.log" >&2 || true
    return 1
}

stop() {
    local dir=$1 pids p
    if ip netns list 2>/dev/null | grep -qw "$ns"; then
        [ -d "$dir" ] && touch "$dir/stop"
        # everything that runs in the namespace is this script's: libvirtd, virtlogd, QEMU, tini
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
        for _ in $(seq 1 50); do
            [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
            sleep 0.1
        done
        for p in $(ip netns pids "$ns" 2>/dev/null || true); do kill -KILL "$p" 2>/dev/null || true; done
        for _ in $(seq 1 50); do
            [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
            sleep 0.1
        done
        ip netns del "$ns" 2>/dev/null || true
    fi
    # the peer went with the namespace; the host's end may be left by a crash in between
    ip link del "$veth" 2>/dev/null || true
    # its mounts lived in its mount namespace only: DIR holds plain files now
    [ -n "$dir" ] && [ -d "$dir" ] && rm -rf --one-file-system "$dir"
    return 0
}

start() {
    local dir=$1 uuid
    command -v ip >/dev/null || { say "ip (iproute2) is missing"; return 77; }
    [ "$(id -u)" = 0 ] || { say "needs root (network namespaces)"; return 77; }
    stop "$dir"
    mkdir -p "$dir"/run "$dir"/lib/images "$dir"/etc "$dir"/log/qemu "$dir"/cache
    chmod 755 "$dir" "$dir"/lib "$dir"/lib/images
    ip netns add "$ns"
    ip link add "$veth" type veth peer name "$peer"
    ip link set "$peer" netns "$ns"
    ip addr add "$host_addr/30" dev "$veth"
    ip link set "$veth" up
    ip netns exec "$ns" ip addr add "$ns_addr/30" dev "$peer"
    ip netns exec "$ns" ip link set "$peer" up
    ip netns exec "$ns" ip link set lo up
    # its own host UUID: in a namespace libvirtd may report the machine's, and cohortd rightly
    # refuses a second entry for one libvirt host
    uuid=$(cat /proc/sys/kernel/random/uuid)
    cat >"$dir/etc/libvirtd.conf" <<EOF
listen_tls = 0
listen_tcp = 1
listen_addr = "$ns_addr"
auth_tcp = "none"
host_uuid = "$uuid"
EOF
    printf 'user = "libvirt-qemu"\ngroup = "libvirt-qemu"\n' >"$dir/etc/qemu.conf"
    : >"$dir/etc/virtlogd.conf"
    ip netns exec "$ns" unshare --mount --propagation private \
        tini -s -- /bin/sh -c "
            mount --bind '$dir/run' /run/libvirt &&
            mount --bind '$dir/lib' /var/lib/libvirt &&
            mount --bind '$dir/etc' /etc/libvirt &&
            mount --bind '$dir/log' /var/log/libvirt &&
            mount --bind '$dir/cache' /var/cache/libvirt || exit 1
            virtlogd --daemon -f /etc/libvirt/virtlogd.conf -p /run/libvirt/virtlogd.pid
            while [ ! -e '$dir/stop' ]; do
                libvirtd --listen -f /etc/libvirt/libvirtd.conf -p /run/libvirt/libvirtd.pid
                while [ -e '$dir/hold' ] && [ ! -e '$dir/stop' ]; do sleep 0.1; done
            done" </dev/null >>"$dir/libvirtd.log" 2>&1 &
    wait_up "$dir"
    say "up: $uri (namespace $ns, state in $dir)"
}

kill_libvirtd() {
    local dir=$1 pid
    touch "$dir/hold"
    pid=$(cat "$dir/run/libvirtd.pid")
    kill -KILL "$pid"
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || { say "libvirtd ($pid) killed"; return 0; }
        sleep 0.1
    done
    say "libvirtd ($pid) did not die"
    return 1
}

revive() {
    local dir=$1
    rm -f "$dir/hold"
    wait_up "$dir"
    say "libvirtd is back"
}

case ${1:-} in
    start) start "$2" ;;
    kill) kill_libvirtd "$2" ;;
    revive) revive "$2" ;;
    stop) stop "$2" ;;
    uri) echo "$uri" ;;
    *)
        echo "usage: $0 start|kill|revive|stop DIR, or uri" >&2
        exit 2
        ;;
esac
