#!/usr/bin/env bash
# topic_ids.sh - e2e: a KB number or a GUID is one topic in any case.
#
# Three clients report KB5031356 as "kb5031356", "KB5031356" and "Kb5031356",
# and a deployment GUID in upper and lower case (in braces), through the real
# broker and store. `qsctl compliance` counts each as one topic, under its one
# spelling (KB upper case, GUID hex lower case); a client that reports the
# same update in two spellings has one current state, the newer. An id that is
# neither (a Debian version) keeps its case: two spellings stay two topics.
# Usage: tests/e2e/topic_ids.sh [BUILD_DIR]   (or QSCTL=... QS_BROKER=... env)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

qs_need_cmd jq
qs_find_bins "${1:-}"
qs_tmp_new
qs_site_init
qs_start_site
qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k 1 --as e2e-ids

GUID_UP="{6A5B4F2E-1C3D-4E5F-8A9B-0C1D2E3F4A5B}"
GUID_LOW="{6a5b4f2e-1c3d-4e5f-8a9b-0c1d2e3f4a5b}"
T1=$(date -u -d '-2 hours' +%Y-%m-%dT%H:%M:%SZ)
T2=$(date -u -d '-1 hours' +%Y-%m-%dT%H:%M:%SZ)

qs_step "three clients, three spellings of KB5031356; a GUID in two cases"
qs_enroll ids-a
qs_enroll ids-b
qs_enroll ids-c
qs_report ids-a --topic-type 500 --topic-id kb5031356 --state 2 --machine PC-IDS-A --time "$T1"
qs_report ids-a --topic-type 500 --topic-id KB5031356 --state installed --machine PC-IDS-A --time "$T2"
qs_report ids-b --topic-type 500 --topic-id KB5031356 --state 2 --machine PC-IDS-B --time "$T1"
qs_report ids-c --topic-type 500 --topic-id Kb5031356 --state required --machine PC-IDS-C --time "$T1"
qs_report ids-a --topic-type 300 --topic-id "$GUID_UP" --state 1 --machine PC-IDS-A --time "$T1"
qs_report ids-b --topic-type 300 --topic-id "$GUID_LOW" --state 1 --machine PC-IDS-B --time "$T1"
qs_report ids-a --topic-type 500 --topic-id "deb:foo:1.0A" --state 3 --machine PC-IDS-A --time "$T1"
qs_report ids-b --topic-type 500 --topic-id "deb:foo:1.0a" --state 3 --machine PC-IDS-B --time "$T1"
for c in ids-a ids-b ids-c; do
    qs_flush "$c" 30
    qs_expect_eq "flush $c" "$QS_RC" 0
done

qs_step "qsctl compliance: one topic per update, under its one spelling"
qs_expect_rc 0 "$QS_TMP/c500.json" "$QSCTL" compliance --home "$QS_HOME" --topic-type 500 --format json
rows=$(jq -c '[.rows[] | select(.state_id != null) | select(.topic_id | ascii_downcase | startswith("kb")) | [.topic_id, .state_id, .count]]' "$QS_TMP/c500.json")
qs_expect_eq "KB rows" "$rows" '[["KB5031356",2,2],["KB5031356",3,1]]'
debs=$(jq -c '[.rows[] | select(.state_id != null) | select(.topic_id | startswith("deb:")) | .topic_id] | sort' "$QS_TMP/c500.json")
qs_expect_eq "deb rows (case kept)" "$debs" '["deb:foo:1.0A","deb:foo:1.0a"]'
qs_expect_rc 0 "$QS_TMP/c300.json" "$QSCTL" compliance --home "$QS_HOME" --topic-type 300 --format json
rows=$(jq -c '[.rows[] | select(.state_id != null) | [.topic_id, .state_id, .count]]' "$QS_TMP/c300.json")
qs_expect_eq "GUID rows" "$rows" "[[\"$GUID_LOW\",1,2]]"

qs_step "qsctl compliance --topic-id: a filter in another spelling finds the update"
qs_expect_rc 0 "$QS_TMP/f.json" "$QSCTL" compliance --home "$QS_HOME" --topic-id kb5031356 --format json
rows=$(jq -c '[.rows[] | select(.state_id != null) | [.topic_id, .state_id, .count]]' "$QS_TMP/f.json")
qs_expect_eq "filtered KB rows" "$rows" '[["KB5031356",2,2],["KB5031356",3,1]]'

qs_step "a client with two spellings of one update has one current state"
qs_expect_rc 0 "$QS_TMP/a.json" "$QSCTL" lookup --home "$QS_HOME" --machine pc-ids-a --format json
rows=$(jq -c '[.rows[] | select(.topic_type == 500 and (.topic_id | startswith("KB"))) | [.topic_id, .state_id]]' "$QS_TMP/a.json")
qs_expect_eq "PC-IDS-A's KB rows" "$rows" '[["KB5031356",3]]'

printf '%s: PASS\n' "$QS_LIB_NAME"
