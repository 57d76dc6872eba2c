#!/usr/bin/env bash
# audit_tamper.sh - e2e: an audit log cut short by whoever can write site.db
# is caught against a checkpoint kept elsewhere, and every entry already went
# to syslog as it was committed (issue #16).
#
# The attacker deletes the last entries from site.db and rewrites
# DIR/audit.head to match: `qsctl audit verify` alone cannot tell (the chain
# that is left is intact), `qsctl audit verify --checkpoint FILE` fails
# naming the missing entry, and the syslog copy still holds the entries.
# Syslog: the test receives /dev/log itself (socat), bind-mounted over
# /dev/log in a private mount namespace when one exists, or created when
# none does; without root (no namespace) the syslog part is skipped.
# Usage: tests/e2e/audit_tamper.sh [BUILD_DIR]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

qs_need_cmd jq sqlite3
qs_find_bins "${1:-}"
qs_tmp_new

SYSLOG=0
LOG_SOCK=$QS_TMP/devlog.sock
LOG_FILE=$QS_TMP/syslog.txt
if (( $(id -u) == 0 )) && command -v socat >/dev/null && command -v unshare >/dev/null; then
    SYSLOG=1
    if [[ -e /dev/log ]]; then
        socat -u "UNIX-RECV:$LOG_SOCK,mode=666" "OPEN:$LOG_FILE,creat,append" &
    else
        LOG_SOCK=/dev/log
        socat -u "UNIX-RECV:$LOG_SOCK,mode=666,unlink-early" "OPEN:$LOG_FILE,creat,append" &
        qs_on_exit "rm -f /dev/log"
    fi
    qs_on_exit "kill $! 2>/dev/null || true"
    qs_wait_until 5 "socat's socket" test -S "$LOG_SOCK" || qs_fail "socat did not create $LOG_SOCK"
else
    qs_info "not root or no socat/unshare: the syslog part is skipped"
fi

# qsctl_logged ARGS...: qsctl with its syslog going to LOG_FILE.
qsctl_logged() {
    if (( SYSLOG )) && [[ $LOG_SOCK != /dev/log ]]; then
        unshare -m sh -c 'mount --bind "$1" /dev/log && shift && exec "$@"' sh "$LOG_SOCK" \
            "$QSCTL" "$@"
    else
        "$QSCTL" "$@"
    fi
}

qs_step "a site with a few audited changes"
qsctl_logged init --home "$QS_TMP/site" >/dev/null
export QS_HOME=$QS_TMP/site
for k in 5 6 7 8; do
    qsctl_logged policy set --k "$k" --as "officer $k" >/dev/null
done
qs_expect_rc 0 "$QS_TMP/verify0.out" "$QSCTL" audit verify

qs_step "the privacy officer takes a checkpoint and keeps it off the site"
"$QSCTL" audit head >"$QS_TMP/checkpoint" || qs_fail "audit head failed"
read -r CP_SEQ CP_HASH <"$QS_TMP/checkpoint"
[[ $CP_SEQ =~ ^[0-9]+$ && ${#CP_HASH} == 64 ]] || qs_fail "checkpoint is '$(cat "$QS_TMP/checkpoint")'"
[[ $("$QSCTL" audit head --format json | jq -r .seq) == "$CP_SEQ" ]] || qs_fail "head json differs"
qs_expect_rc 0 "$QS_TMP/verify1.out" "$QSCTL" audit verify --checkpoint "$QS_TMP/checkpoint"
grep -q "through checkpoint" "$QS_TMP/verify1.out" || qs_fail "verify does not mention the checkpoint"

qs_step "an insider with write access to site.db removes the last two entries and the head"
sqlite3 "$QS_HOME/site.db" "DELETE FROM audit WHERE seq > $((CP_SEQ - 2))"
NEW_HEAD=$(sqlite3 "$QS_HOME/site.db" "SELECT seq || ' ' || lower(hex(hash)) FROM audit ORDER BY seq DESC LIMIT 1")
printf '%s\n' "$NEW_HEAD" >"$QS_HOME/audit.head"
qs_info "log now ends at ${NEW_HEAD%% *}; head file rewritten to match"
qs_expect_rc 0 "$QS_TMP/verify2.out" "$QSCTL" audit verify
qs_info "without a checkpoint the shortened chain still verifies (what the checkpoint is for)"

qs_step "verify against the checkpoint catches it"
qs_expect_rc 1 "$QS_TMP/verify3.out" "$QSCTL" audit verify --checkpoint "$QS_TMP/checkpoint"
grep -q "entry $CP_SEQ: missing" "$QS_TMP/verify3.out.err" ||
    qs_fail "the finding does not name entry $CP_SEQ: $(cat "$QS_TMP/verify3.out.err")"
qs_info "$(head -n 1 "$QS_TMP/verify3.out.err")"
qs_expect_rc 1 "$QS_TMP/verify4.out" "$QSCTL" audit verify --checkpoint "$QS_TMP/checkpoint" \
    --format json
[[ $(jq -r .intact "$QS_TMP/verify4.out") == false ]] || qs_fail "json says intact"

qs_step "a forged checkpoint (other hash) and a malformed one are findings too"
printf '%s %s\n' "$((CP_SEQ - 2))" "$(printf '0%.0s' {1..64})" >"$QS_TMP/forged"
qs_expect_rc 1 "$QS_TMP/verify5.out" "$QSCTL" audit verify --checkpoint "$QS_TMP/forged"
grep -q "does not match checkpoint" "$QS_TMP/verify5.out.err" || qs_fail "forged checkpoint not named"
echo "not a checkpoint" >"$QS_TMP/bad"
qs_expect_rc 1 "$QS_TMP/verify6.out" "$QSCTL" audit verify --checkpoint "$QS_TMP/bad"
qs_expect_rc 2 "$QS_TMP/usage.out" "$QSCTL" audit show --checkpoint "$QS_TMP/bad"

if (( SYSLOG )); then
    qs_step "every committed entry, the removed ones included, is in syslog"
    qs_wait_until 5 "entry $CP_SEQ in syslog" grep -q "audit seq=$CP_SEQ " "$LOG_FILE" ||
        qs_fail "entry $CP_SEQ is not in syslog: $(tail -n 3 "$LOG_FILE" 2>/dev/null)"
    grep -q "audit seq=$CP_SEQ hash=$CP_HASH " "$LOG_FILE" || qs_fail "syslog has another hash for $CP_SEQ"
    grep -q "action=policy.set" "$LOG_FILE" || qs_fail "no policy.set in syslog"
    grep -q "actor=$(id -un) as officer 8" "$LOG_FILE" || qs_fail "syslog lacks the actor"
    n=$(grep -o 'audit seq=' "$LOG_FILE" | wc -l)   # datagrams, no newline between
    (( n >= CP_SEQ )) || qs_fail "syslog has $n entries, the log had $CP_SEQ"
    qs_info "$n entries in syslog; the two removed from site.db are among them"
fi
echo "e2e_audit_tamper: PASS"
