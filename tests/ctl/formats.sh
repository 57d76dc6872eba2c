#!/usr/bin/env bash
# formats.sh - the output contract of qsctl, without daemons: --format json on
# every command (also those that change the site) prints exactly one document
# that a real JSON parser (python3's json) accepts, with the keys
# docs/commands.md promises; --format csv parses with a real CSV parser
# (python3's csv) into a header and rectangular records; --as NAME reaches the
# audit log for every command that changes the site.
#
# Usage: tests/ctl/formats.sh path/to/qsctl
set -u

QSCTL=${1:?usage: formats.sh path/to/qsctl}
command -v python3 >/dev/null || { echo "formats: python3 is needed"; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/qs-formats.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
H=$TMP/site
unset QS_HOME
checks=0 failed=0

fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# json KEYS... -- ARGS...: qsctl ARGS must exit 0 with one JSON object on
# stdout that has every key in KEYS.
json() {
    local keys=()
    while [[ $1 != -- ]]; do keys+=("$1"); shift; done
    shift
    checks=$((checks + 1))
    if ! "$QSCTL" "$@" >"$TMP/out" 2>"$TMP/err"; then
        fail "qsctl $* exited $?: $(head -c 400 "$TMP/err")"; return
    fi
    python3 - "$TMP/out" "${keys[@]}" <<'EOF' || fail "qsctl $*: $(head -c 400 "$TMP/out")"
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
doc, end = json.JSONDecoder().raw_decode(text)
assert text[end:].strip() == "", "more than one document"
assert isinstance(doc, dict), "not an object"
missing = [k for k in sys.argv[2:] if k not in doc]
assert not missing, "missing keys %s" % missing
EOF
}

# csv HEADER_FIRST_CELL -- ARGS...: qsctl ARGS must exit 0 with CSV whose
# header starts with HEADER_FIRST_CELL and whose records all have its width.
csv() {
    local first=$1
    shift 2
    checks=$((checks + 1))
    if ! "$QSCTL" "$@" >"$TMP/out" 2>"$TMP/err"; then
        fail "qsctl $* exited $?: $(head -c 400 "$TMP/err")"; return
    fi
    python3 - "$TMP/out" "$first" <<'EOF' || fail "qsctl $*: $(head -c 400 "$TMP/out")"
import csv, sys
rows = list(csv.reader(open(sys.argv[1], encoding="utf-8", newline="")))
assert rows and rows[0][0] == sys.argv[2], "header %r" % (rows[:1],)
assert all(len(r) == len(rows[0]) for r in rows), "ragged records"
assert len(rows) >= 2, "no record"
EOF
}

json home resumed files frontend backend web -- init --home "$H" --as "Ada Admin" --format json
json enrolled profile key name_pseudonym endpoint -- \
    enroll --home "$H" --name ws-001 --out "$TMP/ws-001.profile" --as "Ada Admin" --format json
json revoked keys name_pseudonym -- revoke --home "$H" --name ws-001 --as "Ada Admin" --format json
json old new version changed actor -- policy set --home "$H" --k 1 --as "P. Officer" --format json
json changed version -- policy set --home "$H" --k 1 --format json
json configured version -- policy show --home "$H" --format json
json versions -- policy history --home "$H" --format json
json machine_ps latest_rows history_rows partitions scrubbed -- \
    forget --home "$H" --machine PC-1 --as "P. Officer" --format json
json added role token -- user add --home "$H" --name op1 --role operator --as "Ada Admin" --format json
json added role token_file -- user add --home "$H" --name op2 --role operator \
    --out "$TMP/op2.token" --format json
json users -- user list --home "$H" --format json
json removed -- user remove --home "$H" --name op2 --as "Ada Admin" --format json
json stored duplicates rejected rejected_detail retries -- stats --home "$H" --format json
json rows -- compliance --home "$H" --format json
json k days first_day last_day missing_days rows -- compliance --home "$H" --trend --days 3 --format json
json rows -- lookup --home "$H" --machine PC-1 --format json
json entries -- audit show --home "$H" --format json
json intact -- audit verify --home "$H" --format json

csv name -- stats --home "$H" --format csv
csv seq -- audit show --home "$H" --format csv
csv version -- policy history --home "$H" --format csv
csv name -- user list --home "$H" --format csv

# Every change above records its --as beside the OS user.
checks=$((checks + 1))
"$QSCTL" audit show --home "$H" --format json >"$TMP/audit.json" 2>/dev/null
python3 - "$TMP/audit.json" <<'EOF' || fail "--as missing from the audit log"
import json, sys
entries = json.load(open(sys.argv[1]))["entries"]
by_action = {}
for e in entries:
    by_action.setdefault(e["action"], []).append(e["actor"])
for action, name in [("init", "Ada Admin"), ("enroll", "Ada Admin"), ("revoke", "Ada Admin"),
                     ("policy.set", "P. Officer"), ("forget", "P. Officer"),
                     ("user.add", "Ada Admin"), ("user.remove", "Ada Admin")]:
    assert any(a.endswith(" as " + name) for a in by_action.get(action, [])), (action, by_action)
EOF

echo "formats: $checks checks, $failed failed"
[[ $failed == 0 ]]
