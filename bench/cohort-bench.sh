#!/usr/bin/env bash
# The benchmarks of bench/README.md, one table: ./cohort-dev bench [--quick] runs this with
# the build directory in COHORT_BUILDDIR. It prints the table and writes it to
# bench/results/latest.md (--quick: bench/results/quick.md).
#
#   bench/cohort-bench.sh [--quick] [--only testdriver|instructions|qemu|ready|hosts|load|memory]... [--out FILE]
#
# Everything it makes (daemons, state directories, domains, volumes, a storage pool) is its
# own, named cohort-bench-* in libvirt, and goes when it ends, also on failure or ^C.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builddir=${COHORT_BUILDDIR:-$top/build}
cohortd=$builddir/daemon/cohortd
cohortctl=$builddir/client/cohortctl
floor=$builddir/bench/cohort-bench-floor
client=$builddir/bench/cohort-bench-client
template=$top/xml-templates/tiny.xml
lab_uri="test://$top/data/lab-host.xml"
qemu_uri=qemu:///system

quick=0
only=()
out=
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --only) only+=("$2"); shift ;;
    --out) out=$2; shift ;;
    *) echo "usage: $0 [--quick] [--only testdriver|instructions|qemu|ready|hosts|load|memory]... [--out FILE]" >&2
       exit 2 ;;
    esac
    shift
done
[ -n "$out" ] || out=$top/bench/results/$([ $quick = 1 ] && echo quick || echo latest).md

# Sizes and repetitions: the full run, and --quick (under two minutes).
if [ $quick = 1 ]; then
    td_sizes="86 1000"; td_runs_86=3; td_runs_1000=1
    ins_sizes="1 200"
    qemu_n=5; qemu_runs=1
    ready_n=5; ready_runs=1
    hosts_n=20; hosts_runs=1; hosts_image_mib=128
    load_trainees=200; load_runs=${COHORT_BENCH_LOAD_RUNS:-1}; load_seconds=4
    mem_cohorts=2; mem_trainees=500; mem_runs=1
else
    td_sizes="86 1000"; td_runs_86=5; td_runs_1000=5
    ins_sizes="1 200 1000"
    qemu_n=10; qemu_runs=3
    ready_n=10; ready_runs=1
    hosts_n=20; hosts_runs=3; hosts_image_mib=512
    load_trainees=200; load_runs=${COHORT_BENCH_LOAD_RUNS:-5}; load_seconds=10
    mem_cohorts=10; mem_trainees=1000; mem_runs=${COHORT_BENCH_MEM_RUNS:-3}
fi
# The floor makes and uploads a seed disc per machine as cohortd does (its cloud-init seed,
# 70 KiB for the bench's trainees: common/cohort-seed.c's image)
seed_kib=70
# the guest password's SHA-512 crypt rounds, as common/cohort-seed.h has them
hash_rounds=$(sed -n 's/^#define COHORT_SEED_PASSWORD_ROUNDS \([0-9]*\).*/\1/p' "$top/common/cohort-seed.h")
[ -n "$hash_rounds" ] || { echo "no COHORT_SEED_PASSWORD_ROUNDS in common/cohort-seed.h" >&2; exit 1; }
# COHORT_BENCH_INS_SIZES: other sizes for the instruction count ("1 200" to profile)
ins_sizes=${COHORT_BENCH_INS_SIZES:-$ins_sizes}

say() { printf '\033[1mbench:\033[0m %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

for f in "$cohortd" "$cohortctl" "$floor" "$client"; do
    [ -x "$f" ] || die "$f is missing: build first (./cohort-dev build)"
done

want() {
    [ ${#only[@]} -eq 0 ] && return 0
    local o
    for o in "${only[@]}"; do [ "$o" = "$1" ] && return 0; done
    return 1
}

work=$(mktemp -d /tmp/cohort-bench.XXXXXX)
stats=$work/stats
mkdir -p "$stats"
daemon_pids=()
qemu_pool=
qemu_dir=
# the second libvirt host of the two-hosts benchmark (tests/integration/second-libvirtd.sh)
h2_helper=$top/tests/integration/second-libvirtd.sh
h2_dir=/tmp/cohort-bench-h2
h2_up=0
hosts_pool=
hosts_dir=/var/lib/libvirt/images/cohort-bench-2h
# the readiness benchmark: the test guest's kernel and initrd, where QEMU may read them
ready_pool=
ready_dir=/var/lib/libvirt/images/cohort-bench-ready

# --- cleanup: daemons, then what libvirt holds of ours, then the files -------------------

qemu_sweep() {
    local d p v
    for d in $(virsh -c $qemu_uri list --all --name 2>/dev/null | grep '^cohort-bench-' || true); do
        virsh -c $qemu_uri destroy "$d" >/dev/null 2>&1 || true
        virsh -c $qemu_uri undefine --nvram "$d" >/dev/null 2>&1 ||
            virsh -c $qemu_uri undefine "$d" >/dev/null 2>&1 || true
    done
    for p in $(virsh -c $qemu_uri pool-list --all --name 2>/dev/null | grep '^cohort-bench-' || true); do
        for v in $(virsh -c $qemu_uri vol-list "$p" 2>/dev/null | awk 'NR > 2 && $1 != "" { print $1 }'); do
            virsh -c $qemu_uri vol-delete --pool "$p" "$v" >/dev/null 2>&1 || true
        done
        virsh -c $qemu_uri pool-destroy "$p" >/dev/null 2>&1 || true
        virsh -c $qemu_uri pool-undefine "$p" >/dev/null 2>&1 || true
    done
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${daemon_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${daemon_pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$qemu_pool" ]; then
        qemu_sweep
        rm -rf "$qemu_dir"
    fi
    if [ -n "$hosts_pool" ]; then
        qemu_sweep
        rm -rf "$hosts_dir"
    fi
    if [ -n "$ready_pool" ]; then
        qemu_sweep
        virsh -c $qemu_uri net-destroy cohort-bench-ready >/dev/null 2>&1 || true
        rm -rf "$ready_dir"
    fi
    [ $h2_up = 0 ] || COHORT_H2_NAME=bench COHORT_H2_NET=78 "$h2_helper" stop "$h2_dir" || true
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- figures: every sample in a file, then median (min–max) --------------------------------

now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
sample() { echo "$2" >>"$stats/$1"; }
# the value of KEY in a "key=value key=value" line
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

# median, min, max of a figure's samples (nothing when there are none)
summary() {
    [ -s "$stats/$1" ] || return 0
    sort -g "$stats/$1" | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        print m, v[1], v[NR], NR }'
}
median() { summary "$1" | awk '{ print $1 }'; }

# "1.23 (1.10–1.40)" with the number format given, or "–"
fmt() {
    local s
    s=$(summary "$1")
    [ -n "$s" ] || { echo "–"; return; }
    echo "$s" | awk -v f="${2:-%.2f}" '{
        if ($4 == 1) printf f "\n", $1
        else printf f " (" f "–" f ")\n", $1, $2, $3 }'
}

# ratio of two medians, "2.1×"
ratio() {
    local a b
    a=$(median "$1"); b=$(median "$2")
    [ -n "$a" ] && [ -n "$b" ] || { echo "–"; return; }
    awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.1f×\n", a / b; else print "–" }'
}

# "200 KiB", "1.00 GiB" for a figure in bytes
fmt_bytes() {
    local s
    s=$(summary "$1")
    [ -n "$s" ] || { echo "–"; return; }
    echo "$s" | awk '
        function h(b) {
            if (b >= 1073741824) return sprintf("%.2f GiB", b / 1073741824)
            if (b >= 1048576) return sprintf("%.1f MiB", b / 1048576)
            return sprintf("%.0f KiB", b / 1024) }
        { if ($2 == $3) print h($1); else printf "%s (%s–%s)\n", h($1), h($2), h($3) }'
}

runs_of() { [ -s "$stats/$1" ] && wc -l <"$stats/$1" || echo 0; }

# --- cohortd on a state directory of its own ------------------------------------------------

# daemon_start NAME [EXTRA-CONFIG]: sets D_URL, D_PID, D_DIR, D_ADMIN, D_TRAINER
daemon_start() {
    D_DIR=$work/$1
    mkdir -p "$D_DIR"
    cat >"$D_DIR/cohortd.conf" <<CONF
[daemon]
listen=127.0.0.1
port=0
state_dir=$D_DIR
templates_dir=$top/xml-templates
allow_test_hosts=true

${2:-[host:lab]
uri=$lab_uri
accel=tcg
pool=default}
CONF
    D_ADMIN=$("$cohortd" --config "$D_DIR/cohortd.conf" --create-admin admin)
    # D_WRAP: a command cohortd runs under (callgrind, for the instruction count)
    ${D_WRAP:-} "$cohortd" --config "$D_DIR/cohortd.conf" >"$D_DIR/cohortd.out" 2>"$D_DIR/cohortd.log" &
    D_PID=$!
    daemon_pids+=("$D_PID")
    D_URL=
    for _ in $(seq 1 "$([ -n "${D_WRAP:-}" ] && echo 1200 || echo 100)"); do
        D_URL=$(sed -n 's/^cohortd: listening on //p' "$D_DIR/cohortd.out")
        [ -n "$D_URL" ] && break
        kill -0 "$D_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$D_URL" ] || die "cohortd did not start: $(cat "$D_DIR/cohortd.log")"
    export COHORT_URL=$D_URL XDG_CONFIG_HOME=$D_DIR/config
    D_TRAINER=$(ctl_admin --quiet user create bench-trainer --role trainer --display-name "Bench Trainer")
}

# A stop on SIGTERM is part of cohortd's contract; one that hangs is noted in the table,
# then the daemon is killed so that the benchmark goes on.
stop_hangs=0
daemon_stop() {
    local i
    # let work in flight (and the reconcile it triggers) settle before the stop
    sleep 0.5
    kill "$D_PID"
    for i in $(seq 1 100); do
        kill -0 "$D_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$D_PID" 2>/dev/null; then
        say "  cohortd did not stop within 10 s of SIGTERM: killing it"
        stop_hangs=$((stop_hangs + 1))
        kill -9 "$D_PID"
    fi
    wait "$D_PID" || [ $stop_hangs -gt 0 ] ||
        die "cohortd did not stop cleanly: $(tail -n 5 "$D_DIR/cohortd.log")"
    rm -rf "$D_DIR"
}

ctl_admin() { COHORT_TOKEN=$D_ADMIN "$cohortctl" "$@"; }
ctl() { COHORT_TOKEN=$D_TRAINER "$cohortctl" "$@"; }

# A roster in the shared roster's format (tests/data/rosters/), with synthetic trainees.
roster_write() { # FILE COUNT PREFIX
    awk -v n="$2" -v p="$3" 'BEGIN {
        print "login,display_name,institute,role,email"
        for (i = 1; i <= n; i++)
            printf "%s-%04d,Trainee %04d (synthetic),Bench Institute of Technology,student,%s-%04d@bench.example.edu\n", p, i, i, p, i
    }' >"$1"
}

# cohort_make SLUG TRAINEES [MACHINES]: a cohort running today, its roster; codes in SLUG.codes
cohort_make() {
    local machines=${3:-1}
    ctl --quiet cohort create "$1" --template tiny --title "bench $1" \
        --starts "$(date -u +%F)" --ends "$(date -u -d '+30 days' +%F)" \
        --max-machines "$machines" --max-vcpus "$machines" \
        --max-memory-mib $((machines * 64)) >/dev/null
    roster_write "$D_DIR/$1.csv" "$2" "t"
    ctl --quiet cohort roster "$1" "$D_DIR/$1.csv" >"$D_DIR/$1.codes"
}

# --- 1. control plane on the test driver ----------------------------------------------------

bench_testdriver() {
    local n runs r slug line t0 tp tr
    say "control plane on libvirt's test driver ($lab_uri)"
    for n in $td_sizes; do
        runs=$([ "$n" = 86 ] && echo $td_runs_86 || echo $td_runs_1000)

        # the floor: a warm-up run first (dropped), like cohortd's warm-up cohort below
        say "  floor, N=$n, $runs runs"
        for flags in "" --validate; do
            local key=floor
            [ -n "$flags" ] && key=validate
            "$floor" --uri "$lab_uri" --base tiny-base.qcow2 --blank-base-mib 32 --seed-kib "$seed_kib" \
                --template "$template" --count "$n" --runs $((runs + 1)) $flags \
                >"$work/floor.out" || die "the floor failed"
            while read -r line; do
                case "$line" in run=1\ *) continue ;; esac
                tp=$(field provision_s "$line")
                tr=$(field reclaim_s "$line")
                sample "td-$n-$key-provision" "$tp"
                sample "td-$n-$key-reclaim" "$tr"
                sample "td-$n-$key-total" "$(awk -v a="$tp" -v b="$tr" 'BEGIN { print a + b }')"
            done <"$work/floor.out"
        done

        say "  cohortd through cohortctl, then through HTTP with a 10 ms poll, N=$n, $runs runs each"
        daemon_start "td-$n"
        ctl_admin --quiet template base tiny --blank >/dev/null
        cohort_make warm-up 10
        ctl --quiet cohort provision warm-up >/dev/null
        ctl --quiet cohort reclaim warm-up >/dev/null
        for r in $(seq 1 "$runs"); do
            slug=ctl-$r
            cohort_make $slug "$n"
            t0=$(now_ns)
            ctl --quiet cohort provision $slug >/dev/null || die "provision $slug failed"
            tp=$(secs_since "$t0")
            t0=$(now_ns)
            ctl --quiet cohort reclaim $slug >/dev/null || die "reclaim $slug failed"
            tr=$(secs_since "$t0")
            sample "td-$n-ctl-provision" "$tp"
            sample "td-$n-ctl-reclaim" "$tr"
            sample "td-$n-ctl-total" "$(awk -v a="$tp" -v b="$tr" 'BEGIN { print a + b }')"

            slug=api-$r
            cohort_make $slug "$n"
            "$client" job --url "$D_URL" --token "$D_TRAINER" \
                --path /api/v1/cohorts/$slug/provision >"$work/job.out" || die "provision $slug failed"
            tp=$(field seconds "$(cat "$work/job.out")")
            "$client" job --url "$D_URL" --token "$D_TRAINER" \
                --path /api/v1/cohorts/$slug/reclaim >"$work/job.out" || die "reclaim $slug failed"
            tr=$(field seconds "$(cat "$work/job.out")")
            sample "td-$n-api-provision" "$tp"
            sample "td-$n-api-reclaim" "$tr"
            sample "td-$n-api-total" "$(awk -v a="$tp" -v b="$tr" 'BEGIN { print a + b }')"
        done
        [ "$(ctl_admin --json machine list | tr -d ' \n')" = "[]" ] ||
            die "machines are left after the reclaims"
        daemon_stop
    done
}

# --- 1b. instructions per machine on the test driver (callgrind) -----------------------------

# The total of a callgrind output file: instructions of every thread.
cg_total() { sed -n 's/^totals: *//p' "$1" | awk '{ print $1 }'; }

# SIGTERM to a cohortd under callgrind, which writes its counts as it exits (that takes a while)
daemon_stop_callgrind() {
    local stopped=0
    kill "$D_PID"
    for _ in $(seq 1 1200); do
        kill -0 "$D_PID" 2>/dev/null || { stopped=1; break; }
        sleep 0.1
    done
    [ $stopped = 1 ] || die "cohortd under callgrind did not stop within 120 s"
    wait "$D_PID" || die "cohortd did not stop cleanly: $(tail -n 5 "$D_DIR/cohortd.log")"
    rm -rf "$D_DIR"
}

# ctl_job_wait SLUG provision|reclaim: starts the job and waits for cohortd's log line saying
# it finished (no polling: a poll would add instructions that grow with the time taken)
ctl_job_wait() {
    local job i
    job=$("$client" job --url "$D_URL" --token "$D_TRAINER" --path "/api/v1/cohorts/$1/$2" \
        --no-wait) || die "$2 $1 failed"
    job=${job#job=}
    for i in $(seq 1 6000); do
        grep -q "job $job ($2 $1) finished" "$D_DIR/cohortd.log" && return 0
        kill -0 "$D_PID" 2>/dev/null || die "cohortd died during $2 $1"
        sleep 0.1
    done
    die "$2 $1 did not finish in 10 minutes under callgrind"
}

bench_instructions() {
    local n cg f f2 p1 p2 who
    say "instructions on libvirt's test driver (callgrind, all threads), N=${ins_sizes// /, }"
    for n in $ins_sizes; do
        say "  floor, N=$n"
        cg=$work/cg-floor-$n
        valgrind --tool=callgrind --callgrind-out-file="$cg" \
            --dump-before=floor_provision_all --dump-before=floor_teardown_all \
            "$floor" --uri "$lab_uri" --base tiny-base.qcow2 --blank-base-mib 32 --seed-kib "$seed_kib" \
            --template "$template" --count "$n" >"$work/floor.out" 2>"$work/floor.cg.log" ||
            die "the floor failed under callgrind: $(tail -n 5 "$work/floor.cg.log")"
        # .1: start to the first provision; .2: provisioning; the last: teardown to exit
        echo "$(cg_total "$cg.2") $(cg_total "$cg")" >"$stats/ins-floor-$n"

        # the same floor hashing a guest password per machine as cohortd's seed does (SHA-512
        # crypt, the rounds of common/cohort-seed.h): work any tool making such seeds does
        say "  floor with the password hash, N=$n"
        cg=$work/cg-floorhash-$n
        valgrind --tool=callgrind --callgrind-out-file="$cg" \
            --dump-before=floor_provision_all --dump-before=floor_teardown_all \
            "$floor" --uri "$lab_uri" --base tiny-base.qcow2 --blank-base-mib 32 --seed-kib "$seed_kib" \
            --hash-rounds "$hash_rounds" --template "$template" --count "$n" \
            >"$work/floor.out" 2>"$work/floor.cg.log" ||
            die "the floor failed under callgrind: $(tail -n 5 "$work/floor.cg.log")"
        echo "$(cg_total "$cg.2") $(cg_total "$cg")" >"$stats/ins-floorhash-$n"

        say "  cohortd, N=$n"
        cg=$work/cg-cohortd-$n
        D_WRAP="valgrind --tool=callgrind --callgrind-out-file=$cg
            --dump-before=cohort_service_cohort_provision --dump-before=cohort_service_cohort_reclaim"
        daemon_start "ins-$n"
        D_WRAP=
        ctl_admin --quiet template base tiny --blank >/dev/null
        cohort_make ins "$n"
        ctl_job_wait ins provision
        ctl_job_wait ins reclaim
        # callgrind writes the last part at exit: give it the time it needs
        sleep 0.5
        daemon_stop_callgrind
        # .1: start and setup; .2: provisioning (request to the reclaim's request); the last:
        # reclaim to exit
        echo "$(cg_total "$cg.2") $(cg_total "$cg")" >"$stats/ins-cohortd-$n"
    done
    # COHORT_BENCH_CALLGRIND_DIR: keep callgrind's files there, for callgrind_annotate
    if [ -n "${COHORT_BENCH_CALLGRIND_DIR:-}" ]; then
        mkdir -p "$COHORT_BENCH_CALLGRIND_DIR"
        cp "$work"/cg-* "$COHORT_BENCH_CALLGRIND_DIR/"
    fi
    # per machine: (N machines − 1 machine) / (N − 1), per step
    for n in $ins_sizes; do
        [ "$n" = 1 ] && continue
        for who in floor floorhash cohortd; do
            read -r p1 p2 <"$stats/ins-$who-$n"
            read -r f f2 <"$stats/ins-$who-1"
            echo "$p1 $f" | awk -v n="$n" '{ printf "%.3f\n", ($1 - $2) / (n - 1) / 1e6 }' \
                >"$stats/ins-$n-$who-provision"
            echo "$p2 $f2" | awk -v n="$n" '{ printf "%.3f\n", ($1 - $2) / (n - 1) / 1e6 }' \
                >"$stats/ins-$n-$who-reclaim"
        done
    done
}

# --- 2. qemu:///system, N machines: Cohort, the floor, shell loops --------------------------

# The template's domain for a shell loop: name and disk set with sed, as admins script it.
shell_domain_xml() { # NAME DISK
    sed -e "s|<name>tiny</name>|<name>$1</name>|" \
        -e "s|<driver name='qemu' type='qcow2'/>|&<source file='$2'/>|" "$template"
}

# bytes on disk (st_blocks, what du counts) of one file
disk_bytes() { stat -c '%b %B' "$1" | awk '{ print $1 * $2 }'; }

qemu_left() {
    local doms vols
    doms=$(virsh -c $qemu_uri list --all --name | grep -c '^cohort-bench-' || true)
    vols=$(virsh -c $qemu_uri vol-list "$qemu_pool" | awk 'NR > 2 && $1 ~ /^cohort-/' | wc -l)
    [ "$doms" = 0 ] && [ "$vols" = 0 ] || die "left on $qemu_uri: $doms domains, $vols volumes"
}

bench_shell_loop() { # KIND(linked|copy) RUN
    local kind=$1 r=$2 i t0 name vol path
    local prefix=cohort-bench-$([ "$kind" = linked ] && echo sh || echo copy)-
    t0=$(now_ns)
    for i in $(seq 1 "$qemu_n"); do
        name=$prefix$i
        vol=$name.qcow2
        if [ "$kind" = linked ]; then
            virsh -q -c $qemu_uri vol-create-as "$qemu_pool" "$vol" 1G --format qcow2 \
                --backing-vol tiny-base.qcow2 --backing-vol-format qcow2 >/dev/null
        else
            virsh -q -c $qemu_uri vol-clone --pool "$qemu_pool" tiny-base.qcow2 "$vol" >/dev/null
        fi
        path=$(virsh -q -c $qemu_uri vol-path --pool "$qemu_pool" "$vol")
        shell_domain_xml "$name" "$path" >"$work/$name.xml"
        virsh -q -c $qemu_uri define "$work/$name.xml" >/dev/null
        virsh -q -c $qemu_uri start "$name" >/dev/null
    done
    sample "q-$kind-up" "$(secs_since "$t0")"
    sample "q-$kind-disk" "$(disk_bytes "$qemu_dir/${prefix}1.qcow2")"
    t0=$(now_ns)
    for i in $(seq 1 "$qemu_n"); do
        name=$prefix$i
        virsh -q -c $qemu_uri destroy "$name" >/dev/null
        virsh -q -c $qemu_uri undefine --nvram "$name" >/dev/null
        virsh -q -c $qemu_uri vol-delete --pool "$qemu_pool" "$name.qcow2" >/dev/null
    done
    sample "q-$kind-gone" "$(secs_since "$t0")"
    qemu_left
}

bench_qemu() {
    local r line t0 slug
    say "qemu:///system (TCG), N=$qemu_n, $qemu_runs runs of each"
    virsh -c $qemu_uri uri >/dev/null 2>&1 || die "libvirtd is not running (./cohort-dev libvirt)"
    qemu_sweep
    qemu_pool=cohort-bench-$$
    qemu_dir=/var/lib/$qemu_pool
    mkdir -p "$qemu_dir"
    # 1 GiB of real data (not zeros: a copy cannot skip them), in a qcow2 base
    qemu-img create -q -f qcow2 "$qemu_dir/tiny-base.qcow2" 1G
    qemu-io -f qcow2 -c "write -P 0x5a 0 1G" "$qemu_dir/tiny-base.qcow2" >/dev/null
    sample q-base-disk "$(disk_bytes "$qemu_dir/tiny-base.qcow2")"
    virsh -q -c $qemu_uri pool-create-as "$qemu_pool" dir --target "$qemu_dir" >/dev/null

    daemon_start qemu "[host:local]
uri=$qemu_uri
accel=tcg
pool=$qemu_pool
vcpus=16
memory_mib=8192"
    for r in $(seq 1 "$qemu_runs"); do
        say "  run $r: cohortd"
        slug=bench-qemu-$r
        cohort_make $slug "$qemu_n"
        t0=$(now_ns)
        ctl --quiet cohort provision $slug >/dev/null || die "provision $slug failed"
        sample q-cohort-up "$(secs_since "$t0")"
        [ "$(virsh -c $qemu_uri list --name | grep -c "^cohort-$slug--")" = "$qemu_n" ] ||
            die "cohortd did not leave $qemu_n running domains"
        sample q-cohort-disk "$(disk_bytes "$qemu_dir/cohort-$slug--t-0001.qcow2")"
        t0=$(now_ns)
        ctl --quiet cohort reclaim $slug >/dev/null || die "reclaim $slug failed"
        sample q-cohort-gone "$(secs_since "$t0")"
        qemu_left

        say "  run $r: floor (plain C loop)"
        "$floor" --uri $qemu_uri --pool "$qemu_pool" --base tiny-base.qcow2 --seed-kib "$seed_kib" \
            --template "$template" --count "$qemu_n" --prefix cohort-bench-floor- \
            >"$work/floor.out" || die "the floor failed on $qemu_uri"
        line=$(cat "$work/floor.out")
        sample q-floor-up "$(field provision_s "$line")"
        sample q-floor-gone "$(field reclaim_s "$line")"
        sample q-floor-disk "$(field overlay_bytes "$line")"
        qemu_left

        say "  run $r: shell loop, linked clones"
        bench_shell_loop linked "$r"
        say "  run $r: shell loop, full copies (virsh vol-clone)"
        bench_shell_loop copy "$r"
    done
    daemon_stop
    virsh -q -c $qemu_uri pool-destroy "$qemu_pool" >/dev/null
    rm -rf "$qemu_dir"
    qemu_sweep
    qemu_pool=
    [ -z "$(virsh -c $qemu_uri list --all --name | grep '^cohort-bench-' || true)" ] ||
        die "domains of the benchmark are left on $qemu_uri"
    [ -z "$(virsh -c $qemu_uri pool-list --all --name | grep '^cohort-bench-' || true)" ] ||
        die "a pool of the benchmark is left on $qemu_uri"
    say "  $qemu_uri holds nothing of the benchmark"
}

# --- 2a. request to ready: the test guest (tests/guest/) --------------------------------------

# The machines of a prefix whose live XML says the guest agent is connected.
agents_connected() { # PREFIX
    local d n=0
    for d in $(virsh -c $qemu_uri list --name | grep "^$1" || true); do
        [ "$(virsh -c $qemu_uri dumpxml "$d" | grep -c "name='org.qemu.guest_agent.0' state='connected'")" -gt 0 ] &&
            n=$((n + 1))
    done
    echo $n
}

bench_ready() {
    local r t0 t0_s slug line net_xml i name path per
    say "request to ready: the test guest on qemu:///system (TCG), N=$ready_n, $ready_runs runs"
    virsh -c $qemu_uri uri >/dev/null 2>&1 || die "libvirtd is not running (./cohort-dev libvirt)"
    "$top/tests/guest/build-guest.sh" "$builddir/tests/guest" >&2 ||
        die "the test guest could not be built (./cohort-dev installs its packages)"
    qemu_sweep
    ready_pool=cohort-bench-ready-$$
    mkdir -p "$ready_dir/pool" "$work/ready-templates"
    chmod 755 "$ready_dir"
    install -m 0644 "$builddir/tests/guest/vmlinuz" "$builddir/tests/guest/initrd.img" "$ready_dir/"
    sed -e "s|/nonexistent/vmlinuz|$ready_dir/vmlinuz|" -e "s|/nonexistent/initrd.img|$ready_dir/initrd.img|" \
        "$top/tests/guest/guest.xml" >"$work/ready-templates/guest.xml"
    virsh -q -c $qemu_uri pool-create-as "$ready_pool" dir --target "$ready_dir/pool" >/dev/null
    daemon_start ready "[daemon]
templates_dir=$work/ready-templates
workers=4

[host:local]
uri=$qemu_uri
accel=tcg
pool=$ready_pool
vcpus=32
memory_mib=16384"
    ctl_admin --quiet template base guest --blank >/dev/null || die "the guest's base failed"
    for r in $(seq 1 "$ready_runs"); do
        say "  run $r: cohortd, provision --wait-ready"
        slug=bench-ready-$r
        ctl --quiet cohort create $slug --template guest --title "bench $slug" \
            --starts "$(date -u +%F)" --ends "$(date -u -d '+30 days' +%F)" \
            --max-machines 1 --max-vcpus 1 --max-memory-mib 128 >/dev/null
        roster_write "$D_DIR/$slug.csv" "$ready_n" "t"
        ctl --quiet cohort roster $slug "$D_DIR/$slug.csv" >/dev/null
        t0_s=$(date -u +%s)
        t0=$(now_ns)
        ctl --quiet cohort provision $slug --wait-ready --ready-timeout 300 >/dev/null ||
            die "provision --wait-ready $slug failed"
        sample r-cohort-ready "$(secs_since "$t0")"
        # each machine: ready_at (whole seconds) after the request
        ctl --json machine list --cohort $slug | tr '{' '\n' | sed -n 's/.*"ready_at":"\([^"]*\)".*/\1/p' |
            while read -r at; do echo $(($(date -u -d "$at" +%s) - t0_s)); done >"$work/per"
        while read -r per; do sample r-cohort-each "$per"; done <"$work/per"
        net_xml=$(virsh -c $qemu_uri net-dumpxml "cohort-$slug")
        t0=$(now_ns)
        ctl --quiet cohort reclaim $slug >/dev/null || die "reclaim $slug failed"
        sample r-cohort-gone "$(secs_since "$t0")"

        say "  run $r: floor (virsh: an overlay, define, start each; wait for the agents)"
        # the cohort's network as cohortd made it, under a name of the floor's
        sed -e "s|<name>.*</name>|<name>cohort-bench-ready</name>|" -e '/<uuid>/d' -e '/<mac /d' \
            -e "s|<bridge name='[^']*'|<bridge name='virbr-cbready'|" <<<"$net_xml" >"$work/ready-net.xml"
        virsh -q -c $qemu_uri net-create "$work/ready-net.xml" >/dev/null || die "the floor's network"
        t0=$(now_ns)
        for i in $(seq 1 "$ready_n"); do
            name=cohort-bench-ready-$i
            virsh -q -c $qemu_uri vol-create-as "$ready_pool" "$name.qcow2" 16M --format qcow2 \
                --backing-vol guest-base.qcow2 --backing-vol-format qcow2 >/dev/null
            path=$(virsh -q -c $qemu_uri vol-path --pool "$ready_pool" "$name.qcow2")
            sed -e "s|<name>guest</name>|<name>$name</name>|" \
                -e "s|<driver name='qemu' type='qcow2'/>|&<source file='$path'/>|" \
                -e "s|<source network='default'/>|<source network='cohort-bench-ready'/>|" \
                -e "s|</devices>|<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel></devices>|" \
                "$work/ready-templates/guest.xml" >"$work/$name.xml"
            virsh -q -c $qemu_uri define "$work/$name.xml" >/dev/null
            virsh -q -c $qemu_uri start "$name" >/dev/null
        done
        # waited for as cohortctl waits: a look every 0.5 s
        : >"$work/floor-seen"
        while :; do
            n=$(agents_connected cohort-bench-ready-)
            while [ "$(wc -l <"$work/floor-seen")" -lt "$n" ]; do echo "$(secs_since "$t0")" >>"$work/floor-seen"; done
            [ "$n" -ge "$ready_n" ] && break
            [ "$n" = "${last_n:-}" ] || say "    $n of $ready_n agents connected after $(secs_since "$t0") s"
            last_n=$n
            [ "$(secs_since "$t0" | cut -d. -f1)" -lt 300 ] || die "the floor's guests were not ready in 300 s"
            sleep 0.5
        done
        sample r-floor-ready "$(secs_since "$t0")"
        while read -r per; do sample r-floor-each "$per"; done <"$work/floor-seen"
        t0=$(now_ns)
        for i in $(seq 1 "$ready_n"); do
            name=cohort-bench-ready-$i
            virsh -q -c $qemu_uri destroy "$name" >/dev/null
            virsh -q -c $qemu_uri undefine "$name" >/dev/null
            virsh -q -c $qemu_uri vol-delete --pool "$ready_pool" "$name.qcow2" >/dev/null
        done
        virsh -q -c $qemu_uri net-destroy cohort-bench-ready >/dev/null
        sample r-floor-gone "$(secs_since "$t0")"
    done
    daemon_stop
    virsh -q -c $qemu_uri vol-delete --pool "$ready_pool" guest-base.qcow2 >/dev/null 2>&1 || true
    virsh -q -c $qemu_uri pool-destroy "$ready_pool" >/dev/null
    rm -rf "$ready_dir"
    qemu_sweep
    ready_pool=
    [ -z "$(virsh -c $qemu_uri list --all --name | grep '^cohort-bench-' || true)" ] ||
        die "domains of the benchmark are left on $qemu_uri"
    say "  $qemu_uri holds nothing of the readiness benchmark"
}

# --- 2b. two real hosts against one ---------------------------------------------------------

h2() { COHORT_H2_NAME=bench COHORT_H2_NET=78 "$h2_helper" "$@"; }

# hosts_provision NAME: a cohort of hosts_n provisioned and reclaimed on the daemon running,
# timed; how many machines each host held
hosts_provision() {
    local slug=$1 t0 on
    cohort_make "$slug" "$hosts_n"
    t0=$(now_ns)
    ctl --quiet cohort provision "$slug" >/dev/null || die "provision $slug failed"
    sample "h-$2-up" "$(secs_since "$t0")"
    on=$(ctl_admin host list | awk 'NR > 1 { printf "%s%s", sep, $3; sep = " + " }')
    echo "$on" >"$stats/h-$2-split"
    t0=$(now_ns)
    ctl --quiet cohort reclaim "$slug" >/dev/null || die "reclaim $slug failed"
    sample "h-$2-gone" "$(secs_since "$t0")"
}

bench_hosts() {
    local r uri2 job line
    say "two real hosts (qemu:///system and a second libvirtd in a namespace) against one, N=$hosts_n, $hosts_runs runs"
    [ "$(id -u)" = 0 ] && command -v ip >/dev/null || { say "  skipped: needs root and iproute2"; return 0; }
    virsh -c $qemu_uri uri >/dev/null 2>&1 || die "libvirtd is not running (./cohort-dev libvirt)"
    qemu_sweep
    h2 start "$h2_dir" >/dev/null || die "the second libvirtd did not start"
    h2_up=1
    uri2=$(h2 uri)
    hosts_pool=cohort-bench-2h-$$
    # the same path on both: each host has its own /var/lib/libvirt
    mkdir -p "$hosts_dir" "$h2_dir/lib/images/cohort-bench-2h"
    virsh -q -c $qemu_uri pool-create-as "$hosts_pool" dir --target "$hosts_dir" >/dev/null
    virsh -q -c "$uri2" pool-create-as "$hosts_pool" dir --target "$hosts_dir" >/dev/null
    # a base image of real data, uploaded by cohortd to both through libvirt streams
    mkdir -p "$work/hosts-images"
    head -c $((hosts_image_mib * 1024 * 1024)) /dev/urandom >"$work/hosts-images/base.img"
    daemon_start hosts "[daemon]
images_dir=$work/hosts-images
[host:local]
uri=$qemu_uri
accel=tcg
pool=$hosts_pool
vcpus=16
memory_mib=8192
[host:remote]
uri=$uri2
accel=tcg
pool=$hosts_pool
vcpus=16
memory_mib=8192"
    job=$(ctl_admin --quiet template base tiny --path "$work/hosts-images/base.img" --no-wait)
    ctl_admin --quiet job show "$job" --wait >/dev/null || die "the base upload failed"
    ctl_admin --json job show "$job" >"$work/upload.json"
    python3 - "$work/upload.json" >"$work/upload.out" <<'PY'
import json, sys
job = json.load(open(sys.argv[1]))
for item in job["progress"]["items"]:
    print("%s %.1f" % (item["host"], item["bytes_done"] / 1048576 / (max(item["milliseconds"], 1) / 1000)))
PY
    sample h-upload-local "$(awk '$1 == "local" { print $2 }' "$work/upload.out")"
    sample h-upload-remote "$(awk '$1 == "remote" { print $2 }' "$work/upload.out")"
    for r in $(seq 1 "$hosts_runs"); do
        say "  run $r: $hosts_n machines over two hosts (spread)"
        hosts_provision "bench-two-$r" two
        say "  run $r: the same on one host (the second drained)"
        ctl_admin --quiet host drain remote >/dev/null
        hosts_provision "bench-one-$r" one
        ctl_admin --quiet host undrain remote >/dev/null
    done
    daemon_stop
    virsh -q -c $qemu_uri pool-destroy "$hosts_pool" >/dev/null 2>&1 || true
    qemu_sweep
    hosts_pool=
    rm -rf "$hosts_dir"
    [ -z "$(virsh -c "$uri2" list --all --name | grep '^cohort-' || true)" ] ||
        die "domains of the benchmark are left on the second host"
    h2 stop "$h2_dir"
    h2_up=0
    say "  both hosts hold nothing of the benchmark"
}

# --- 3. API under load -------------------------------------------------------------------

bench_load() {
    local r line k mix machines
    say "API under load: $load_trainees trainees at once, ${load_seconds} s, $load_runs runs of each mix"
    for r in $(seq 1 "$load_runs"); do
        # mix: list and request (the trainees' day); list: list only (the API alone, no
        # libvirt work in the daemon's workers)
        for mix in mix list; do
            machines=$([ $mix = mix ] && echo 4 || echo 0)
            # COHORT_BENCH_LOAD_WRAP: cohortd under a profiler (callgrind), to see the API's cost
            D_WRAP=${COHORT_BENCH_LOAD_WRAP:-}
            daemon_start "load-$mix-$r"
            D_WRAP=
            ctl_admin --quiet template base tiny --blank >/dev/null
            cohort_make bench-load "$load_trainees" 4
            "$client" load --url "$D_URL" --codes "$D_DIR/bench-load.codes" --cohort bench-load \
                --concurrency "$load_trainees" --duration "$load_seconds" --machines $machines \
                >"$work/load.out" 2>"$work/load.err" || true
            line=$(cat "$work/load.out")
            [ -n "$line" ] || die "the load client failed: $(cat "$work/load.err")"
            for k in rps p50_ms p99_ms errors list_p50_ms list_p99_ms list_errors request_p50_ms \
                request_p99_ms request_n request_errors redeem_p50_ms redeem_p99_ms redeem_errors; do
                sample "load-$mix-$k" "$(field $k "$line")"
            done
            [ "$(field errors "$line")" = 0 ] ||
                say "  run $r ($mix): $(field errors "$line") errors: $(cat "$work/load.err")"
            # the requested machines are made before the stop
            for _ in $(seq 1 100); do
                ctl_admin --json machine list | grep -q '"provisioning"' || break
                sleep 0.1
            done
            daemon_stop
        done
    done
    # COHORT_BENCH_LOAD_INSTRUCTIONS=0: the timed runs alone, for a side-by-side A/B
    [ "${COHORT_BENCH_LOAD_INSTRUCTIONS:-1}" = 0 ] || bench_load_instructions 200 2200
}

# cohortd's instructions per list request (callgrind, every thread): two cohortds, each
# with the same setup and redeem storm, list only, stopped after $1 and after $2 requests;
# the difference in their counts over the difference in requests
bench_load_instructions() { # FEW MANY
    local n cg
    for n in "$1" "$2"; do
        say "  instructions: list only, $n requests, cohortd under callgrind"
        cg=$work/cg-load-$n
        D_WRAP="valgrind --tool=callgrind --callgrind-out-file=$cg"
        daemon_start "load-ins-$n"
        D_WRAP=
        ctl_admin --quiet template base tiny --blank >/dev/null
        cohort_make bench-load "$load_trainees" 4
        "$client" load --url "$D_URL" --codes "$D_DIR/bench-load.codes" --cohort bench-load \
            --concurrency "$load_trainees" --requests "$n" --machines 0 \
            >"$work/load.out" 2>"$work/load.err" ||
            die "the load client failed under callgrind: $(cat "$work/load.err")"
        daemon_stop_callgrind
        cg_total "$cg" >"$stats/load-ins-$n"
    done
    [ -z "${COHORT_BENCH_CALLGRIND_DIR:-}" ] ||
        { mkdir -p "$COHORT_BENCH_CALLGRIND_DIR"; cp "$work"/cg-load-* "$COHORT_BENCH_CALLGRIND_DIR/"; }
    echo "$(cat "$stats/load-ins-$1") $(cat "$stats/load-ins-$2")" |
        awk -v a="$1" -v b="$2" '{ printf "%.1f\n", ($2 - $1) / (b - a) / 1e3 }' \
            >"$stats/load-ins-per-request"
    bench_load_instructions_machines 20 4 2000
}

# cohortd's instructions per list of the machines the mix leaves each trainee: $1 trainees
# request $2 machines each; once every one runs, the counts are zeroed (callgrind_control) and
# the same trainees list $3 times. A list the mix makes is one of these.
bench_load_instructions_machines() { # TRAINEES MACHINES LISTS
    local cg=$work/cg-load-machines running=0
    say "  instructions: $3 lists of $2 machines each, $1 trainees, cohortd under callgrind"
    D_WRAP="valgrind --tool=callgrind --callgrind-out-file=$cg"
    daemon_start "load-ins-machines"
    D_WRAP=
    ctl_admin --quiet template base tiny --blank >/dev/null
    cohort_make bench-load "$1" "$2"
    # every fifth request of a trainee asks for a machine: twice what $2 machines need
    "$client" load --url "$D_URL" --codes "$D_DIR/bench-load.codes" --cohort bench-load \
        --concurrency "$1" --requests $(($1 * $2 * 10)) --machines "$2" \
        --tokens-out "$D_DIR/bench-load.tokens" >"$work/load.out" 2>"$work/load.err" ||
        die "the load client failed under callgrind: $(cat "$work/load.err")"
    for _ in $(seq 1 600); do
        running=$(ctl_admin --json machine list | grep -c '"running"' || true)
        [ "$running" -ge $(($1 * $2)) ] && break
        sleep 0.2
    done
    [ "$running" -ge $(($1 * $2)) ] || die "only $running of $(($1 * $2)) machines run"
    callgrind_control --zero "$D_PID" >/dev/null
    "$client" load --url "$D_URL" --tokens "$D_DIR/bench-load.tokens" --cohort bench-load \
        --concurrency "$1" --requests "$3" --machines 0 >"$work/load.out" 2>"$work/load.err" ||
        die "the load client failed under callgrind: $(cat "$work/load.err")"
    callgrind_control --dump "$D_PID" >/dev/null
    for _ in $(seq 1 300); do
        [ -s "$cg.1" ] && grep -q '^totals:' "$cg.1" && break
        sleep 0.1
    done
    cg_total "$cg.1" | awk -v n="$3" '{ printf "%.1f\n", $1 / n / 1e3 }' \
        >"$stats/load-ins-per-list-of-machines"
    [ -z "${COHORT_BENCH_CALLGRIND_DIR:-}" ] ||
        { mkdir -p "$COHORT_BENCH_CALLGRIND_DIR"; cp "$cg.1" "$COHORT_BENCH_CALLGRIND_DIR/cg-load-machines"; }
    daemon_stop_callgrind
}

# --- 4. cohortd's memory with many rows ----------------------------------------------------

mem_get() { # FIGURE TOKEN PATH
    local line
    line=$("$client" get --url "$D_URL" --token "$2" --path "$3") ||
        die "GET $3 failed: $line"
    sample "mem-get-$1" "$(field seconds "$line")"
}

# COHORT_BENCH_MEM_STEPS: a file that gets each step's own peak (VmHWM since the step before,
# reset through clear_refs), to tell which step sets cohortd's peak (the table's VmHWM is then
# the last step's, not the run's); with it, COHORT_BENCH_MEM_MALLOC_STATS: a file that gets
# glibc's malloc_info() after each step (through gdb), its arenas' sizes and free memory
mem_step() { # NAME
    [ -n "${COHORT_BENCH_MEM_STEPS:-}" ] || return 0
    printf '%s %s\n' "$1" "$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$D_PID/status")" \
        >>"$COHORT_BENCH_MEM_STEPS"
    echo 5 >"/proc/$D_PID/clear_refs"
    [ -z "${COHORT_BENCH_MEM_MALLOC_STATS:-}" ] || {
        echo "== $1" >>"$COHORT_BENCH_MEM_MALLOC_STATS"
        gdb -p "$D_PID" -batch -ex "set \$f = (void *)fopen(\"$COHORT_BENCH_MEM_MALLOC_STATS\", \"a\")" \
            -ex 'call (int)malloc_info(0, $f)' -ex 'call (int)fclose($f)' >/dev/null 2>&1 || true; }
}

bench_memory() {
    local r k slug hwm rss rows
    say "memory: $mem_cohorts cohorts of $mem_trainees, all but the last reclaimed, $mem_runs runs"
    for r in $(seq 1 "$mem_runs"); do
        daemon_start "mem-$r"
        ctl_admin --quiet template base tiny --blank >/dev/null
        mem_step "run-$r-start"
        for k in $(seq 1 "$mem_cohorts"); do
            slug=course-$k
            ctl --quiet cohort create $slug --template tiny --title "course $k" \
                --starts "$(date -u +%F)" --ends "$(date -u -d '+30 days' +%F)" \
                --max-machines 1 >/dev/null
            roster_write "$D_DIR/$slug.csv" "$mem_trainees" "c$k"
            ctl --quiet cohort roster $slug "$D_DIR/$slug.csv" >/dev/null
            mem_step "$k-cohort-roster"
            ctl --quiet cohort provision $slug >/dev/null || die "provision $slug failed"
            mem_step "$k-provision"
            if [ "$k" != "$mem_cohorts" ]; then
                ctl --quiet cohort reclaim $slug >/dev/null || die "reclaim $slug failed"
                mem_step "$k-reclaim"
            fi
        done
        [ -z "${COHORT_BENCH_SMAPS_DIR:-}" ] ||
            { mkdir -p "$COHORT_BENCH_SMAPS_DIR"; grep -E 'VmHWM|VmRSS' "/proc/$D_PID/status" >"$COHORT_BENCH_SMAPS_DIR/before-reads-$r"; }
        # what an admin and a trainer read with that much history, each read timed
        ctl_admin --json machine list >"$work/machines.json"
        rows=$(grep -c '"id"' "$work/machines.json" || true)
        [ "$rows" = "$mem_trainees" ] || die "expected $mem_trainees live machines, got $rows"
        mem_step machine-list-json
        mem_get machines "$D_ADMIN" /api/v1/machines
        mem_step machines
        mem_get usage "$D_ADMIN" /api/v1/usage
        mem_step usage
        mem_get cohort "$D_TRAINER" "/api/v1/cohorts/course-$mem_cohorts"
        mem_step cohort
        hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$D_PID/status")
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$D_PID/status")
        sample mem-hwm-mib "$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')"
        sample mem-rss-mib "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')"
        sample mem-db-mib "$(du -sk "$D_DIR" | awk '{ printf "%.1f", $1 / 1024 }')"
        # COHORT_BENCH_SMAPS_DIR: where cohortd's memory is, by mapping, for a closer look
        [ -z "${COHORT_BENCH_SMAPS_DIR:-}" ] ||
            { mkdir -p "$COHORT_BENCH_SMAPS_DIR"; cp "/proc/$D_PID/smaps" "$COHORT_BENCH_SMAPS_DIR/smaps-$r"; }
        daemon_stop
        # the same domains held by a bare process on the test driver: libvirt's own share
        "$floor" --uri "$lab_uri" --base tiny-base.qcow2 --blank-base-mib 32 --seed-kib "$seed_kib" \
            --template "$template" --count "$mem_trainees" >"$work/floor.out" ||
            die "the floor failed"
        sample mem-floor-mib "$(field peak_rss_kib "$(cat "$work/floor.out")" |
            awk '{ printf "%.1f", $1 / 1024 }')"
    done
}

# --- the table ------------------------------------------------------------------------------

machine_line() {
    local cpu mem
    cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
    mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
    printf '%s CPUs (%s), %s, Linux %s, libvirt %s, QEMU %s%s' "$(nproc)" "$cpu" "$mem" \
        "$(uname -r)" "$(virsh --version 2>/dev/null || echo '?')" \
        "$(qemu-system-x86_64 --version 2>/dev/null | sed -n 's/.*version \([0-9.]*\).*/\1/p')" \
        "$([ -w /dev/kvm ] && echo '' || echo ', no KVM (TCG)')"
}

table() {
    local n r
    echo "### Cohort benchmarks$([ $quick = 1 ] && echo ' (--quick)')"
    echo
    echo "$(date -u '+%F %H:%M UTC'), commit $commit, $(machine_line)."
    echo "Load average before / after: $load_before / $(cut -d ' ' -f 1-3 /proc/loadavg). Median (min–max) of the runs shown."
    if want instructions; then
        echo
        echo "**Instructions per machine** on the test driver (callgrind: every thread, cohortd from the provision request to its exit; (N machines − 1 machine) ÷ (N − 1)), millions, with the wall-clock ratio of the same step at N = 1000 (HTTP column below) beside them:"
        echo
        echo "| N | step | cohortd, M instructions | floor, M instructions | cohortd ÷ floor | floor with the guest password's hash ($hash_rounds rounds), M | cohortd ÷ that floor | goal | wall clock at N = 1000, cohortd ÷ floor (HTTP) |"
        echo "|---|---|---|---|---|---|---|---|---|"
        for n in $ins_sizes; do
            [ "$n" = 1 ] && continue
            for s in provision reclaim; do
                echo "| $n | $s | $(fmt ins-$n-cohortd-$s %.2f) | $(fmt ins-$n-floor-$s %.2f) | $(ratio ins-$n-cohortd-$s ins-$n-floor-$s) | $(fmt ins-$n-floorhash-$s %.2f) | $(ratio ins-$n-cohortd-$s ins-$n-floorhash-$s) | $([ $s = provision ] && echo '≤ 1.5×' || echo '≤ 3×') | $(ratio td-1000-api-$s td-1000-floor-$s) |"
            done
        done
    fi
    if want testdriver; then
        echo
        echo "**Control plane** on libvirt's embedded test driver (\`data/lab-host.xml\`), tiny template, seconds:"
        echo
        echo "| N | step | runs | Cohort: cohortctl | Cohort: HTTP, 10 ms poll | floor: same libvirt calls | Cohort ÷ floor (cohortctl / HTTP) | floor with VALIDATE (Cohort before 5023150) |"
        echo "|---|---|---|---|---|---|---|---|"
        for n in $td_sizes; do
            for s in provision reclaim total; do
                echo "| $n | $([ $s = total ] && echo 'provision + reclaim' || echo $s) | $(runs_of td-$n-ctl-$s) | $(fmt td-$n-ctl-$s %.3f) | $(fmt td-$n-api-$s %.3f) | $(fmt td-$n-floor-$s %.3f) | $(ratio td-$n-ctl-$s td-$n-floor-$s) / $(ratio td-$n-api-$s td-$n-floor-$s) | $(fmt td-$n-validate-$s %.3f) |"
            done
        done
    fi
    if want qemu; then
        echo
        echo "**qemu:///system** (TCG), N = $qemu_n tiny machines (64 MiB, SeaBIOS, no OS), base image: qcow2 holding 1 GiB of data ($(fmt_bytes q-base-disk) on disk), $(runs_of q-cohort-up) runs:"
        echo
        echo "| method | to all running, s | ÷ floor | to all gone, s | ÷ floor | disk per machine (du) |"
        echo "|---|---|---|---|---|---|"
        for r in "cohort|Cohort: cohortctl → cohortd (linked clones)" \
                 "floor|floor: plain C loop, same libvirt calls" \
                 "linked|shell loop: virsh vol-create-as --backing-vol, define, start" \
                 "copy|shell loop, full copies: virsh vol-clone, define, start"; do
            local k=${r%%|*}
            echo "| ${r#*|} | $(fmt q-$k-up) | $(ratio q-$k-up q-floor-up) | $(fmt q-$k-gone) | $(ratio q-$k-gone q-floor-gone) | $(fmt_bytes q-$k-disk) |"
        done
    fi
    if want ready && [ -s "$stats/r-cohort-ready" ]; then
        echo
        echo "**Request to ready** on qemu:///system (TCG): N = $ready_n test guests (tests/guest/: Debian's cloud kernel and a busybox initramfs, 128 MiB, direct kernel boot, DHCP on the cohort's network, then the guest agent's port opened), $(runs_of r-cohort-ready) runs; the floor starts the same guests (an overlay on the same base, the same domain XML with the agent channel, a copy of the cohort's network) with virsh and waits as cohortctl does, a look every 0.5 s at each live XML for the agent connected:"
        echo
        echo "| method | to all ready, s | ÷ floor | each machine to ready, s (all runs) | to all gone, s |"
        echo "|---|---|---|---|---|"
        echo "| Cohort: cohortctl cohort provision --wait-ready (each: ready_at, whole seconds) | $(fmt r-cohort-ready) | $(ratio r-cohort-ready r-floor-ready) | $(fmt r-cohort-each %.0f) | $(fmt r-cohort-gone) |"
        echo "| floor: virsh vol-create-as, define, start; the live XML polled | $(fmt r-floor-ready) | 1.0× | $(fmt r-floor-each %.1f) | $(fmt r-floor-gone) |"
    fi
    if want hosts && [ -s "$stats/h-two-up" ]; then
        echo
        echo "**Two real hosts against one** (TCG): qemu:///system and a second libvirtd in a network and mount namespace of its own on the same machine, reached as qemu+tcp over a veth pair; both share the same $(nproc) cores, so a second host adds no CPU here, only a second libvirtd working in parallel. N = $hosts_n tiny machines, spread, $(runs_of h-two-up) runs:"
        echo
        echo "| hosts | machines per host | to all running, s | to all gone, s |"
        echo "|---|---|---|---|"
        echo "| two (spread) | $(cat "$stats/h-two-split") | $(fmt h-two-up) | $(fmt h-two-gone) |"
        echo "| one (the second drained) | $(cat "$stats/h-one-split") | $(fmt h-one-up) | $(fmt h-one-gone) |"
        echo
        echo "A base image of $hosts_image_mib MiB of random data, uploaded by cohortd to both hosts at once through libvirt storage streams (hashed before and while sent), MiB/s per host: qemu:///system $(fmt h-upload-local %.1f); qemu+tcp over the veth $(fmt h-upload-remote %.1f)."
    fi
    if want load; then
        echo
        echo "**API under load**: $load_trainees trainees at once on the test driver, each with its own token (redeemed all at once first), ${load_seconds} s per run, $(runs_of load-mix-rps) runs. *list + request*: each trainee lists their machines and requests one more every fifth request, up to 4; *list only*: lists alone:"
        echo
        echo "| mix | requests/s | p50, ms | p99, ms | errors | list p50 / p99, ms | request p50 / p99, ms | machines requested | redeem storm p50 / p99, ms (errors) |"
        echo "|---|---|---|---|---|---|---|---|---|"
        for mix in mix list; do
            echo "| $([ $mix = mix ] && echo 'list + request' || echo 'list only') | $(fmt load-$mix-rps %.0f) | $(fmt load-$mix-p50_ms %.1f) | $(fmt load-$mix-p99_ms %.1f) | $(fmt load-$mix-errors %.0f) | $(fmt load-$mix-list_p50_ms %.1f) / $(fmt load-$mix-list_p99_ms %.1f) | $([ $mix = mix ] && echo "$(fmt load-$mix-request_p50_ms %.1f) / $(fmt load-$mix-request_p99_ms %.1f)" || echo –) | $(fmt load-$mix-request_n %.0f) | $(fmt load-$mix-redeem_p50_ms %.0f) / $(fmt load-$mix-redeem_p99_ms %.0f) ($(fmt load-$mix-redeem_errors %.0f)) |"
        done
        echo
        echo "cohortd's instructions per list request (callgrind, every thread, list only: (count after 2,200 requests − count after 200) ÷ 2,000): $(fmt load-ins-per-request %.1f) k; per list of 4 machines, as the mix's trainees end up holding (20 trainees, counted over 2,000 lists once their 80 machines run): $(fmt load-ins-per-list-of-machines %.1f) k."
    fi
    if want memory; then
        echo
        echo "**Memory**: cohortd on the test driver after $mem_cohorts cohorts of $mem_trainees trainees provisioned, all but the last reclaimed ($((mem_cohorts * mem_trainees)) machine rows, $mem_trainees defined and running domains), then a machine list, usage and a cohort read, $(runs_of mem-hwm-mib) runs:"
        echo
        echo "| machine rows | defined domains | cohortd peak RSS (VmHWM), MiB | cohortd RSS at the end, MiB | the floor's peak RSS with the same domains, MiB | state directory (SQLite), MiB |"
        echo "|---|---|---|---|---|---|"
        echo "| $((mem_cohorts * mem_trainees)) | $mem_trainees | $(fmt mem-hwm-mib %.1f) | $(fmt mem-rss-mib %.1f) | $(fmt mem-floor-mib %.1f) | $(fmt mem-db-mib %.1f) |"
        echo
        echo "With that state, one request each, seconds: admin \`GET /api/v1/machines\` $(fmt mem-get-machines %.3f); admin \`GET /api/v1/usage\` $(fmt mem-get-usage %.3f); trainer \`GET /api/v1/cohorts/course-$mem_cohorts\` ($mem_trainees trainees) $(fmt mem-get-cohort %.3f)."
    fi
}

load_before=$(cut -d ' ' -f 1-3 /proc/loadavg)
# the code measured: the commit the binaries were built from, and whether the tree differed
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')
git -C "$top" diff --quiet HEAD -- common daemon client 2>/dev/null || commit="$commit + uncommitted changes"
t_start=$(now_ns)
want testdriver && bench_testdriver
want instructions && bench_instructions
want qemu && bench_qemu
want ready && bench_ready
want hosts && bench_hosts
want load && bench_load
want memory && bench_memory
mkdir -p "$(dirname "$out")"
{
    table
    echo
    echo "Whole run: $(secs_since "$t_start") s."
    [ $stop_hangs = 0 ] ||
        echo "cohortd did not stop within 10 s of SIGTERM $stop_hangs times and was killed (see bench/README.md, Caveats)."
} >"$out"
echo
cat "$out"
say "written to $out"
