#!/usr/bin/env bash
# cohortctl's bash completion (data/cohortctl.bash-completion) with bash-completion, against a
# real cohortd on libvirt's embedded test driver: the names it completes come from cohortd,
# with the URL and token of the environment or of the line, and nothing (quietly) when
# cohortd cannot answer. TAP output.
#
#   test-completion.sh COHORTD COHORTCTL SOURCE_ROOT
set -uo pipefail

cohortd=$1 cohortctl=$2 root=$3
n=0 failed=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }

if [ ! -f /usr/share/bash-completion/bash_completion ]; then
    echo "Bail out! bash-completion is not installed (./cohort-dev installs it)"
    exit 1
fi

tmp=$(mktemp -d /tmp/cohort-completion.XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/cohortd.conf" <<CONF
[daemon]
listen=127.0.0.1
port=0
state_dir=$tmp/state
templates_dir=$root/xml-templates
CONF
admin=$("$cohortd" --config "$tmp/cohortd.conf" --create-admin admin) ||
    { echo "Bail out! cohortd --create-admin failed"; exit 1; }
"$cohortd" --config "$tmp/cohortd.conf" >"$tmp/out" 2>"$tmp/log" &
pid=$!
url=
for _ in $(seq 1 100); do
    url=$(sed -n 's/^cohortd: listening on //p' "$tmp/out")
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$url" ] || { echo "Bail out! cohortd did not start: $(cat "$tmp/log")"; exit 1; }

export XDG_CONFIG_HOME=$tmp/config COHORT_URL=$url COHORT_TOKEN=$admin
ctl() { "$cohortctl" "$@" >/dev/null || { echo "Bail out! cohortctl $* failed"; exit 1; }; }
ctl template base tiny --blank
ctl cohort create cloud-101 --template tiny --title "Cloud 101" --starts 2026-01-05 \
    --ends 2036-01-16 --max-machines 2
ctl cohort create net-201 --template tiny-lan --title "Networks 201" --starts 2026-01-05 \
    --ends 2036-01-16 --max-machines 1
printf 'login,display_name\nsok-dara,Sok Dara\nlim-sophea,Lim Sophea\n' >"$tmp/roster.csv"
ctl cohort roster cloud-101 "$tmp/roster.csv"
ctl cohort provision cloud-101

# complete WORDS...: what _cohortctl offers for the last word, sorted, on one line; what it
# wrote on stderr goes to $tmp/stderr.
complete_words() {
    bash -c '
        source /usr/share/bash-completion/bash_completion
        source "$1"
        shift
        COMP_WORDS=("$@")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        COMPREPLY=()
        _cohortctl
        printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " " | sed "s/ $//"
    ' completion "$root/data/cohortctl.bash-completion" "$@" 2>"$tmp/stderr"
}

expect() {
    local want=$1 what=$2 got
    shift 2
    got=$(complete_words "$@")
    if [ "$got" = "$want" ]; then
        ok "$what"
    else
        not_ok "$what: got '$got', want '$want'"
    fi
}

expect "audit cohort help host job key login machine redeem template usage user version whoami" \
    "nouns" "$cohortctl" ""
expect "--help base list reload show" "a noun's verbs" "$cohortctl" template ""
expect "cloud-101 net-201" "cohort slugs from cohortd" "$cohortctl" cohort show ""
expect "net-201" "a slug's beginning" "$cohortctl" cohort provision ne
expect "cloud-101 net-201" "--cohort takes a slug" "$cohortctl" machine list --cohort ""
expect "cloud-101 net-201" "machine request takes a slug" "$cohortctl" machine request ""
expect "1 2 cloud-101/lim-sophea cloud-101/sok-dara" "machines by id and COHORT/TRAINEE" \
    "$cohortctl" machine start ""
expect "cloud-101/lim-sophea cloud-101/sok-dara" "a machine's beginning" \
    "$cohortctl" machine console cloud
expect "small-linux tiny tiny-lan" "template names" "$cohortctl" template base ""
expect "small-linux tiny tiny-lan" "--template takes a template" \
    "$cohortctl" cohort create x-1 --template ""
expect "lab" "host names" "$cohortctl" host drain ""
expect "admin lim-sophea sok-dara" "user logins" "$cohortctl" user revoke ""
expect "--help add list remove" "key's verbs" "$cohortctl" key ""
expect "admin lim-sophea sok-dara" "--user takes a login" "$cohortctl" key list --user ""
expect "" "nothing for a second argument" "$cohortctl" cohort show cloud-101 ""

# the line's --url and --token, with none in the environment
unset COHORT_URL COHORT_TOKEN
expect "" "without a URL or token, nothing" "$cohortctl" cohort show ""
expect "cloud-101 net-201" "the line's --url and --token" \
    "$cohortctl" --url "$url" --token "$admin" cohort show ""

# cohortd cannot answer: nothing, and nothing on stderr
export COHORT_TOKEN=$admin
COHORT_URL=http://127.0.0.1:1 expect "" "cohortd unreachable: no names" \
    "$cohortctl" cohort show ""
if [ -s "$tmp/stderr" ]; then not_ok "unreachable: quiet ($(cat "$tmp/stderr"))"; else
    ok "unreachable: quiet"; fi
COHORT_URL=$url COHORT_TOKEN=cohort_wrong expect "" "a bad token: no names" \
    "$cohortctl" machine start ""
if [ -s "$tmp/stderr" ]; then not_ok "bad token: quiet ($(cat "$tmp/stderr"))"; else
    ok "bad token: quiet"; fi

echo "1..$n"
[ "$failed" = 0 ]
