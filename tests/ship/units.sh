#!/usr/bin/env bash
# units.sh - the systemd units, as `cmake --install` puts them, pass
# `systemd-analyze verify` without a single warning and keep their hardening.
#
# Works without a running systemd (containers, CI): the build is installed with
# DESTDIR into a temporary root, the host's own unit directory is copied there
# (verify needs sysinit.target and friends), and verify runs with --root, so
# ExecStart= paths are checked against the installed programs and
# Documentation=man: pages against the installed man pages (MANPATH).
# Needs QS_BUILD_DIR (set by CTest). Exit 0 pass, 1 fail.
set -euo pipefail

fail() { echo "ship_units: FAIL: $*" >&2; exit 1; }

if [[ $(uname -s) != Linux ]]; then
    echo "ship_units: not Linux, no systemd: nothing to verify"
    exit 0
fi
command -v systemd-analyze >/dev/null ||
    fail "systemd-analyze is missing: apt-get install systemd (scripts/setup.sh)"
[[ -n ${QS_BUILD_DIR:-} && -f $QS_BUILD_DIR/CMakeCache.txt ]] || fail "QS_BUILD_DIR is not a build directory"

root=$(mktemp -d /tmp/qs-ship-units.XXXXXX)
trap 'rm -rf "$root"' EXIT
DESTDIR=$root cmake --install "$QS_BUILD_DIR" >/dev/null || fail "cmake --install failed"

state_dir=$(sed -n 's/^QS_STATE_DIR:PATH=//p' "$QS_BUILD_DIR/CMakeCache.txt")
producer_dir=$(sed -n 's/^QS_PRODUCER_DIR:PATH=//p' "$QS_BUILD_DIR/CMakeCache.txt")
man1=$(find "$root" -type d -path '*/man/man1' | head -n 1)
[[ -n $man1 ]] || fail "no man pages installed"
mandir=${man1%/man1}
unit=$(find "$root" -name qs-broker.service -path '*/systemd/system/*' | head -n 1)
[[ -n $unit ]] || fail "cmake --install installed no qs-broker.service"
unitdir=${unit%/*}
unitdir=${unitdir#"$root"}

# The system's own units (targets the units are ordered against).
for d in /lib/systemd/system /usr/lib/systemd/system; do
    if [[ -d $d && ! -L $d ]]; then
        mkdir -p "$root$d"
        cp -a "$d/." "$root$d/"
    fi
done

units=(qs-broker qs-store qs-retention qs-web qs-producer)
for u in "${units[@]}"; do
    f=$root$unitdir/$u.service
    [[ -f $f ]] || fail "$u.service not installed in $unitdir"
    out=$(cd / && MANPATH=$mandir SYSTEMD_LOG_COLOR=0 \
          systemd-analyze verify --root="$root" "$unitdir/$u.service" 2>&1) ||
        fail "$u.service: systemd-analyze verify failed:"$'\n'"$out"
    # Unknown keys and bad values are only warnings: any output is a failure.
    [[ -z $out ]] || fail "$u.service: systemd-analyze verify warns:"$'\n'"$out"

    # The hardening the units promise (docs/install.md).
    for want in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
                PrivateDevices=yes CapabilityBoundingSet= SystemCallFilter=@system-service \
                Restart=always; do
        grep -qx "$want" "$f" || fail "$u.service lacks $want"
    done
    # The daemons tell systemd when they are ready (common/qs_notify.h); the
    # endpoint's producer has nothing to wait for.
    if [[ $u == qs-producer ]]; then
        grep -qx "Type=simple" "$f" || fail "$u.service is not Type=simple"
    else
        grep -qx "Type=notify" "$f" && grep -qx "NotifyAccess=main" "$f" ||
            fail "$u.service is not Type=notify with NotifyAccess=main"
    fi
    grep -q '^RestrictAddressFamilies=' "$f" || fail "$u.service lacks RestrictAddressFamilies="
    home=$state_dir
    [[ $u == qs-producer ]] && home=$producer_dir
    rw=$(grep '^ReadWritePaths=' "$f") || fail "$u.service lacks ReadWritePaths="
    [[ $rw == "ReadWritePaths=$home" ]] || fail "$u.service: writes more than its home $home: $rw"
    exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$f")
    [[ -x $root$exe ]] || fail "$u.service runs $exe, which is not installed"
    if [[ $u == qs-producer ]]; then
        grep -qx 'User=quietstate-producer' "$f" || fail "$u.service not as quietstate-producer"
    else
        grep -qx 'User=quietstate' "$f" || fail "$u.service not as quietstate"
        grep -q '^Environment=QS_HOME=' "$f" || fail "$u.service lacks Environment=QS_HOME="
    fi
done
grep -q '^MemoryMax=' "$root$unitdir/qs-broker.service" || fail "qs-broker.service lacks MemoryMax="
echo "ship_units: ${#units[@]} units verified in $unitdir"
