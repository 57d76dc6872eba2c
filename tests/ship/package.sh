#!/usr/bin/env bash
# package.sh - the Debian packages, built from the tree by scripts/package.sh,
# installed and used in a fresh Debian bookworm root made by debootstrap:
# install with dependencies, qsctl init, daemons started as their units
# start them (User=, Environment=, ExecStart= read from the installed units,
# no new privileges, no capabilities, umask 077), enroll, report, flush, run,
# compliance, retention, then remove (data kept) and purge (data gone).
#
# Needs root (debootstrap, chroot, mounts) and the Debian mirror apt is
# configured with (/etc/apt/sources.list*; QS_DEBIAN_MIRROR overrides). The
# bootstrapped root is cached as a tarball in QS_TEST_CACHE
# (/var/cache/quietstate-test; remade after 30 days), and the packages apt
# downloads into it are kept there too. QS_TEST_DEBS=DIR uses the .debs in DIR
# instead of building them. Mounts are always undone on exit; the root is
# deleted only when nothing is mounted in it any more.
set -euo pipefail

T0=$SECONDS
step() { printf '==> [%3ds] %s\n' $((SECONDS - T0)) "$*"; }
fail() { echo "ship_package: FAIL: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || fail "needs root (debootstrap, chroot, mounts); as another user leave it out: ctest -LE ship"
for t in debootstrap dpkg-buildpackage lintian chroot setpriv jq flock findmnt; do
    command -v "$t" >/dev/null || fail "$t is missing: run scripts/setup.sh"
done

top=$(cd "$(dirname "$0")/../.." && pwd)
suite=bookworm
cache=${QS_TEST_CACHE:-/var/cache/quietstate-test}

# The mirror apt already uses for $suite (deb822 .sources or one-line .list).
mirror_of_apt() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" }
            { uri = ""; ok = 0
              for (i = 1; i <= NF; i++) {
                  if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); uri = a[2] }
                  if ($i ~ /^Suites:/) { n = split($i, b, /[ \t]+/)
                                         for (j = 2; j <= n; j++) if (b[j] == s) ok = 1 }
                  if ($i ~ /^Enabled:[ \t]*no/) ok = 0 }
              if (ok && uri != "") { print uri; exit } }' "$f"
    done
    { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
        awk -v s="$suite" '$1 == "deb" { sub(/\[[^]]*\][ \t]*/, "")
                                         if ($3 == s) { print $2; exit } }'
}
mirror=${QS_DEBIAN_MIRROR:-$(mirror_of_apt | head -n 1 || true)}
[[ -n $mirror ]] || fail "no '$suite' mirror in /etc/apt/sources.list*: set QS_DEBIAN_MIRROR"

work=$(mktemp -d /var/tmp/qs-ship-package.XXXXXX)
root=$work/root
mounts=()
pids=()
cleanup() {
    local rc=$? p m i
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
        m=${mounts[i]}
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    if findmnt -rn -o TARGET | grep -qF "$root"; then
        echo "ship_package: something is still mounted under $root: not deleting $work" >&2
        rc=1
    else
        rm -rf --one-file-system "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the packages -----------------------------------------------------------
if [[ -n ${QS_TEST_DEBS:-} ]]; then
    debs=$QS_TEST_DEBS
else
    step "scripts/package.sh (build, lintian)"
    timeout 600 bash "$top/scripts/package.sh" --out "$work/debs" >"$work/package.log" 2>&1 ||
        { tail -n 40 "$work/package.log" >&2; fail "scripts/package.sh failed"; }
    debs=$work/debs
fi
server_deb=$(ls "$debs"/quietstate_*_*.deb | head -n 1)
producer_deb=$(ls "$debs"/quietstate-producer_*_*.deb | head -n 1)
[[ -f $server_deb && -f $producer_deb ]] || fail "no quietstate and quietstate-producer .deb in $debs"

# ---- a fresh Debian root, from the cached tarball --------------------------
mkdir -p "$cache/apt-archives/partial"
tarball=$cache/$suite-minbase.tar.gz
(
    flock 9
    if [[ ! -f $tarball || -n $(find "$tarball" -mtime +30) ||
          $(cat "$tarball.mirror" 2>/dev/null) != "$mirror" ]]; then
        step "debootstrap --variant=minbase $suite from $mirror (cached in $cache)"
        fresh=$work/bootstrap
        timeout 600 debootstrap --variant=minbase "$suite" "$fresh" "$mirror" >"$work/debootstrap.log" 2>&1 ||
            { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
        tar -C "$fresh" -czf "$tarball.new" .
        mv "$tarball.new" "$tarball"
        echo "$mirror" >"$tarball.mirror"
        rm -rf --one-file-system "$fresh"
    fi
) 9>"$cache/lock" || fail "debootstrap failed"
step "unpack $tarball"
mkdir -p "$root"
tar -C "$root" -xzf "$tarball"

mount -t proc proc "$root/proc" && mounts+=("$root/proc")
mount --bind /dev "$root/dev" && mounts+=("$root/dev")
mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives" &&
    mounts+=("$root/var/cache/apt/archives")
cp /etc/resolv.conf "$root/etc/resolv.conf"
# Nothing starts services in the root (no systemd runs there anyway).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

PATH_IN=/usr/sbin:/usr/bin:/sbin:/bin
# in_root CMD...: run CMD as root in the root; timeout needs a command, not a function.
IN_ROOT=(chroot "$root" /usr/bin/env -i PATH=$PATH_IN LANG=C.UTF-8 HOME=/root
         DEBIAN_FRONTEND=noninteractive)
in_root() { "${IN_ROOT[@]}" "$@"; }
# as USER CMD...: what `sudo -u USER` would do, without needing sudo.
as() { local u=$1; shift
       chroot "$root" /usr/bin/setpriv --reuid="$u" --regid="$u" --init-groups \
           /usr/bin/env -i PATH=$PATH_IN LANG=C.UTF-8 HOME=/ QS_HOME=/var/lib/quietstate "$@"; }

# ---- install ----------------------------------------------------------------
step "apt-get install ./${server_deb##*/} ./${producer_deb##*/} (with dependencies)"
mkdir -p "$root/tmp/debs"
cp "$server_deb" "$producer_deb" "$root/tmp/debs/"
timeout 300 "${IN_ROOT[@]}" apt-get update -q >"$work/apt.log" 2>&1 ||
    { tail -n 20 "$work/apt.log" >&2; fail "apt-get update in the root failed"; }
timeout 300 "${IN_ROOT[@]}" apt-get install -y -q --no-install-recommends \
    "/tmp/debs/${server_deb##*/}" "/tmp/debs/${producer_deb##*/}" >>"$work/apt.log" 2>&1 ||
    { tail -n 30 "$work/apt.log" >&2; fail "apt-get install of the packages failed"; }

step "check what the packages installed"
for u in quietstate quietstate-producer; do
    in_root getent passwd "$u" >/dev/null || fail "no system user $u"
    [[ $(in_root stat -c '%a %U %G' "/var/lib/$u") == "700 $u $u" ]] ||
        fail "/var/lib/$u is not 0700 $u:$u: $(in_root stat -c '%a %U %G' "/var/lib/$u")"
done
for f in /usr/bin/qsctl /usr/sbin/qs-broker /usr/sbin/qs-store /usr/sbin/qs-retention \
         /usr/sbin/qs-web /usr/bin/qs-producer /usr/share/man/man1/qsctl.1.gz \
         /usr/share/man/man1/qsctl-init.1.gz /usr/share/man/man8/qs-store.8.gz \
         /usr/share/man/man1/qs-producer.1.gz /usr/share/doc/quietstate/quietstate.conf.example; do
    [[ -e $root$f ]] || fail "$f not installed"
done
for u in qs-broker qs-store qs-retention qs-web qs-producer; do
    [[ -f $root/lib/systemd/system/$u.service ]] || fail "$u.service not installed"
    [[ -L $root/etc/systemd/system/multi-user.target.wants/$u.service ]] || fail "$u.service not enabled"
done

# unit_key UNIT KEY: the value of KEY= in the installed unit.
unit_key() { sed -n "s/^$2=//p" "$root/lib/systemd/system/$1.service" | tail -n 1; }
# start_unit UNIT [EXTRA ARGS]: run ExecStart= as the unit does, in the background.
start_unit() {
    local unit=$1 user env exe
    shift
    user=$(unit_key "$unit" User)
    env=$(unit_key "$unit" Environment)
    read -r -a exe <<<"$(unit_key "$unit" ExecStart)"
    [[ -n $user && ${#exe[@]} -gt 0 ]] || fail "$unit.service has no User= or ExecStart="
    (umask 077
     exec chroot "$root" /usr/bin/setpriv --reuid="$user" --regid="$user" --init-groups \
         --no-new-privs --inh-caps=-all --bounding-set=-all \
         /usr/bin/env -i PATH=$PATH_IN LANG=C.UTF-8 $env "${exe[@]}" "$@") \
        >"$work/$unit.log" 2>&1 &
    pids+=($!)
    eval "pid_${unit//-/_}=$!"
}
# stop PID NAME: SIGTERM, then the daemon must exit 0 within 30 s.
stop() {
    local i rc=0
    kill -TERM "$1"
    for ((i = 0; i < 300; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$1" 2>/dev/null && fail "$2 did not stop on SIGTERM"
    wait "$1" || rc=$?
    ((rc == 0)) || { cat "$work/$2.log" >&2; fail "$2 exited $rc on SIGTERM"; }
}
port_free() { local h; h=$(printf ':%04X' "$1")
              ! awk -v p="$h" 'FNR > 1 && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
                  /proc/net/tcp /proc/net/tcp6 2>/dev/null; }
listening() { local h; h=$(printf ':%04X' "$1")
              awk -v p="$h" 'FNR > 1 && substr($2, length($2) - 4) == p && $4 == "0A" { f = 1 }
                             END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null; }
free_port() { local p; while :; do p=$((20000 + RANDOM % 40000)); port_free "$p" && [[ $p != "${1:-}" ]] && break; done; echo "$p"; }

# ---- a site, run as the units run it ---------------------------------------
step "qsctl init and policy, as the quietstate user"
front=$(free_port)
back=$(free_port "$front")
as quietstate qsctl init --home /var/lib/quietstate \
    --frontend "tcp://127.0.0.1:$front" --backend "tcp://127.0.0.1:$back" >"$work/init.log" 2>&1 ||
    { cat "$work/init.log" >&2; fail "qsctl init failed"; }
as quietstate qsctl policy set --max-age-days 30 --k 2 --as ship-test >/dev/null ||
    fail "qsctl policy set failed"

step "start qs-broker and qs-store as their units do"
start_unit qs-broker
start_unit qs-store
for ((i = 0; i < 100; i++)); do listening "$front" && listening "$back" && break; sleep 0.1; done
listening "$front" || { cat "$work/qs-broker.log" >&2; fail "qs-broker does not listen on $front"; }

step "enroll three clients; two report and flush with qs-producer as quietstate-producer"
# Compliance counts each client's latest state: three clients, the unit's
# profile (ws-0001) and two more beside it in the producer's home.
for c in ws-0001 ws-0002 ws-0003; do
    as quietstate qsctl enroll --name "$c" --out "/tmp/$c.profile" >/dev/null || fail "qsctl enroll $c failed"
done
read -r -a run <<<"$(unit_key qs-producer ExecStart)"
[[ ${run[1]} == --profile && ${run[3]} == --outbox && ${run[5]} == run ]] ||
    fail "qs-producer.service ExecStart= is not '--profile P --outbox O run': ${run[*]}"
pdir=${run[2]%/*}
in_root install -o quietstate-producer -g quietstate-producer -m 0600 /tmp/ws-0001.profile "${run[2]}"
for c in ws-0002 ws-0003; do
    in_root install -o quietstate-producer -g quietstate-producer -m 0600 "/tmp/$c.profile" "$pdir/$c.profile"
done
rm -f "$root"/tmp/ws-000?.profile
producer() { local c=$1; shift
             as quietstate-producer qs-producer --profile "$pdir/$c.profile" --outbox "$pdir/$c.outbox" "$@"; }
for c in ws-0002 ws-0003; do
    producer "$c" report --topic-type 500 --topic-id KB5031356 --state 2 --machine "$c" >/dev/null ||
        fail "qs-producer report ($c) failed"
    producer "$c" flush --timeout 60 >"$work/flush.log" 2>&1 ||
        { cat "$work/flush.log" >&2; fail "qs-producer flush ($c) failed"; }
done

step "qs-producer run as its unit does, delivering what ws-0001 reports"
start_unit qs-producer
as quietstate-producer qs-producer --profile "${run[2]}" --outbox "${run[4]}" \
    report --topic-type 500 --topic-id KB5031357 --state 3 --machine ws-0001 >/dev/null ||
    fail "qs-producer report (ws-0001) failed"
for ((i = 0; i < 300; i++)); do
    stored=$(as quietstate qsctl stats --format json | jq -r .stored)
    [[ $stored == 3 ]] && break
    sleep 0.2
done
[[ $stored == 3 ]] || { cat "$work/qs-producer.log" >&2; fail "stats: stored $stored, not 3"; }
stop "$pid_qs_producer" qs-producer

step "compliance, retention, verify"
comp=$(as quietstate qsctl compliance --topic-type 500 --format json) || fail "qsctl compliance failed"
# KB5031356: 2 machines required of the 3 with topic type 500 (scope 3), so
# its no-report cell is 1 < k=2: hidden, and the 2 with it (a lone hidden
# cell would follow from the scope): both suppressed, the scope shown.
[[ $(jq -c '[.rows[] | select(.topic_id == "KB5031356") | [.state_id, .count, .scope]]' <<<"$comp") == '[[2,null,3],[null,null,3]]' ]] ||
    fail "compliance: KB5031356 expected required and no-report suppressed, scope 3: $comp"
[[ $(jq '[.rows[] | select(.topic_id == "KB5031357")] | length' <<<"$comp") == 0 ]] ||
    fail "compliance: KB5031357 (one machine, every group < k=2) is shown: $comp"
start_unit qs-retention --once
wait "$pid_qs_retention" || { cat "$work/qs-retention.log" >&2; fail "qs-retention --once failed"; }
as quietstate qsctl audit verify >/dev/null || fail "qsctl audit verify failed"
as quietstate qsctl verify --name ws-0001 >"$work/verify.log" 2>&1 ||
    { cat "$work/verify.log" >&2; fail "qsctl verify failed"; }
stop "$pid_qs_store" qs-store
stop "$pid_qs_broker" qs-broker
pids=()

# ---- remove keeps the data, purge deletes it --------------------------------
step "apt-get remove: programs gone, site kept"
timeout 300 "${IN_ROOT[@]}" apt-get remove -y -q quietstate quietstate-producer >>"$work/apt.log" 2>&1 ||
    { tail -n 20 "$work/apt.log" >&2; fail "apt-get remove failed"; }
[[ ! -e $root/usr/sbin/qs-store && ! -e $root/usr/bin/qs-producer ]] || fail "programs left after remove"
for f in /var/lib/quietstate/store.db /var/lib/quietstate/site.db /var/lib/quietstate/keys/site.key \
         /var/lib/quietstate-producer/client.profile /var/lib/quietstate-producer/outbox.db; do
    [[ -e $root$f ]] || fail "remove deleted $f"
done

step "apt-get purge: site gone"
timeout 300 "${IN_ROOT[@]}" apt-get purge -y -q quietstate quietstate-producer >>"$work/apt.log" 2>&1 ||
    { tail -n 20 "$work/apt.log" >&2; fail "apt-get purge failed"; }
[[ ! -e $root/var/lib/quietstate && ! -e $root/var/lib/quietstate-producer ]] ||
    fail "purge left /var/lib/quietstate or /var/lib/quietstate-producer"

step "ship_package: passed"
