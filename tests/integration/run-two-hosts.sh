#!/usr/bin/env bash
# Runs the two-hosts test (TEST-BINARY) against a second real libvirtd (second-libvirtd.sh),
# which this wrapper starts and, however the test ends (a failed assertion aborts it), tears
# down. Before that it asks the second host with libvirt's own client whether anything of the
# test's is left there: the first host is checked by ./cohort-dev test.
set -uo pipefail

binary=$1
helper=$2
dir=${COHORT_TEST_HOST2_DIR:-/tmp/cohort-itest-h2}

teardown() { "$helper" stop "$dir" || true; }
trap teardown EXIT

"$helper" start "$dir"
rc=$?
if [ $rc = 77 ]; then
    echo "# skipped: no network namespaces here (needs root and iproute2)"
    exit 77
fi
[ $rc = 0 ] || exit 1
uri=$("$helper" uri)

COHORT_TEST_HOST2_URI=$uri COHORT_TEST_HOST2_HELPER=$helper COHORT_TEST_HOST2_DIR=$dir "$binary"
rc=$?

left_doms=$(virsh -c "$uri" list --all --name 2>/dev/null | grep -c '^cohort-' || true)
left_nets=$(virsh -c "$uri" net-list --all --name 2>/dev/null | grep -c '^cohort-' || true)
left_vols=0
for p in $(virsh -c "$uri" pool-list --all --name 2>/dev/null); do
    left_vols=$((left_vols + $(virsh -c "$uri" vol-list "$p" 2>/dev/null | grep -c ' cohort-' || true)))
done
echo "# second host ($uri) after the test: $left_doms cohort- domains, $left_vols volumes," \
    "$left_nets networks"
if [ "$left_doms" != 0 ] || [ "$left_vols" != 0 ] || [ "$left_nets" != 0 ]; then
    echo "not ok: the test left cohort- objects on the second host"
    [ $rc = 0 ] && rc=1
fi
exit $rc
