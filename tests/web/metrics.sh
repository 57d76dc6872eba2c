#!/usr/bin/env bash
# metrics.sh - qs-web's /metrics scraped by a real Prometheus, checked by promtool.
#
# Proves: /metrics is Prometheus text that `promtool check metrics` accepts;
# it carries the stored-messages counter equal to `qsctl stats` .stored,
# duplicates, rejections by reason, the broker's counters, the store's commit
# latency histogram and group size (DIR/store.stats), retention's passes and
# purged rows (after one real qs-retention pass), HTTP requests by route and
# status, and process CPU and memory (qs-store's and qs-broker's CPU seconds
# by mode, user and system, each above 0 after the fleet ran); no label value holds a machine name or a
# topic id. From loopback it needs no token ([web] metrics_public = loopback);
# with metrics_public = token it is 401 without one, 200 with any role's.
# Debian's prometheus (started here on loopback with a temp config and data
# dir, for a bounded run) scrapes it, and one query of its HTTP API returns
# qs_store_messages_stored_total. docs/dashboard.md's alert rules pass
# `promtool check rules`. A scrape takes < 10 ms (median of 50, reported).
# Usage: QS_BUILD_DIR=build bash tests/web/metrics.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/browser/site.sh"

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    [[ $(id -u) == 0 ]] || qs_die "needs prometheus and promtool (apt-get install prometheus)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null ||
        qs_die "cannot install prometheus"
fi
qs_need_cmd jq curl prometheus promtool
qs_find_bins "${1:-}"
qs_tmp_new
DASH_WEB_CONF=()
DASH_CLIENTS=20 DASH_MESSAGES=200
qs_step "a site with $DASH_CLIENTS reporting clients, qs-web"
dash_site_up
qs_step "one retention pass (its audit entry feeds the retention metrics)"
QS_RETENTION=${QS_RETENTION:-$(dirname "$QSCTL")/../retention/qs-retention}
[[ -x $QS_RETENTION ]] || QS_RETENTION=$(find "$(dirname "$QSCTL")/.." -maxdepth 3 -type f -name qs-retention -perm -u+x | head -n 1)
qs_expect_rc 0 "$QS_TMP/ret.out" "$QS_RETENTION" --home "$QS_HOME" --once
sleep 1.2   # store.stats is rewritten at most once a second

qs_step "/metrics from loopback without a token; promtool check metrics"
qs_expect_rc 0 "$QS_TMP/m.txt" curl -sf --max-time 10 "$BASE/metrics"
qs_expect_rc 0 "$QS_TMP/lint.out" promtool check metrics <"$QS_TMP/m.txt"
qs_stats
metric() { awk -v n="$1" '$1 == n { print $2 }' "$QS_TMP/m.txt"; }
qs_expect_eq "stored counter = qsctl stats .stored" "$(metric qs_store_messages_stored_total)" "$(qs_stat .stored)"
qs_expect_eq "duplicates" "$(metric qs_store_duplicates_total)" "$(qs_stat .duplicates)"
for m in 'qs_store_rejected_total{reason="DECRYPT_FAILED"}' qs_broker_forwarded_total \
         'qs_broker_refused_total{reason="CLIENT_REVOKED"}' qs_broker_queue_depth \
         'qs_store_commit_duration_seconds_bucket{le="+Inf"}' qs_store_commit_duration_seconds_sum \
         'qs_store_commit_group_envelopes_bucket{le="+Inf"}' qs_store_process_resident_memory_bytes \
         qs_retention_passes_total qs_retention_last_run_timestamp_seconds \
         'qs_retention_rows_purged_total{table="history"}' process_cpu_seconds_total \
         process_resident_memory_bytes qs_web_worker_resident_memory_bytes \
         'qs_store_cpu_seconds_total{mode="user"}' 'qs_store_cpu_seconds_total{mode="system"}' \
         'qs_broker_cpu_seconds_total{mode="user"}' 'qs_broker_cpu_seconds_total{mode="system"}'; do
    [[ -n $(metric "$m") ]] || qs_fail "/metrics has no $m"
done
# Each daemon's own CPU (from its stats file): both ran the fleet, so above 0.
for p in store broker; do
    awk -v u="$(metric "qs_${p}_cpu_seconds_total{mode=\"user\"}")" \
        -v s="$(metric "qs_${p}_cpu_seconds_total{mode=\"system\"}")" 'BEGIN { exit !(u + s > 0) }' ||
        qs_fail "qs_${p}_cpu_seconds_total is 0 after the fleet ran"
done
(( $(metric qs_broker_forwarded_total) >= DASH_CLIENTS )) || qs_fail "qs_broker_forwarded_total < $DASH_CLIENTS"
(( $(metric 'qs_store_commit_duration_seconds_count') >= 1 )) || qs_fail "no commit in the latency histogram"
qs_expect_eq "retention passes" "$(metric qs_retention_passes_total)" 1
# Nothing per machine: no label value is a client name or a topic id.
jq -r '.expected_latest[].topic_id' "$QS_TMP/sim.json" | sort -u >"$QS_TMP/ids"
grep -F -f "$QS_TMP/ids" "$QS_TMP/m.txt" && qs_fail "/metrics names a topic id"
grep -E 'sim-[0-9]|machine=|client=' "$QS_TMP/m.txt" && qs_fail "/metrics names a machine"
qs_step "a scrape takes < 10 ms"
for i in $(seq 50); do curl -s -o /dev/null -w '%{time_total}\n' "$BASE/metrics"; done | sort -n >"$QS_TMP/times"
median=$(sed -n 25p "$QS_TMP/times")
qs_info "scrape median ${median}s, max $(tail -n 1 "$QS_TMP/times")s"
awk -v m="$median" 'BEGIN { exit !(m < 0.010) }' || qs_fail "scrape median $median s >= 10 ms"
grep -q 'qs_web_requests_total{route="GET /metrics",status="200"}' <(curl -s "$BASE/metrics") ||
    qs_fail "/metrics does not count its own requests"

qs_step "a real Prometheus scrapes it; one query returns the stored counter"
qs_free_port PROM_PORT
mkdir "$QS_TMP/prom"
cat >"$QS_TMP/prom.yml" <<CONF
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [ "$QS_TMP/rules.yml" ]
scrape_configs:
  - job_name: quietstate
    static_configs: [ { targets: [ "127.0.0.1:$WEB_PORT" ] } ]
CONF
# The alert rules of docs/dashboard.md, exactly as documented.
awk '/^```yaml rules/ { on = 1; next } /^```/ { on = 0 } on' "$SRC_DIR/docs/dashboard.md" >"$QS_TMP/rules.yml"
[[ -s $QS_TMP/rules.yml ]] || qs_fail "docs/dashboard.md has no \`\`\`yaml rules block"
qs_expect_rc 0 "$QS_TMP/rules.out" promtool check rules "$QS_TMP/rules.yml"
grep -q "SUCCESS: 2 rules found" "$QS_TMP/rules.out" || qs_fail "want 2 rules: $(cat "$QS_TMP/rules.out")"
qs_expect_rc 0 "$QS_TMP/config.out" promtool check config "$QS_TMP/prom.yml"
qs_start prometheus prometheus --config.file="$QS_TMP/prom.yml" --storage.tsdb.path="$QS_TMP/prom" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn
qs_wait_listen "$PROM_PORT" 30 || qs_fail "prometheus does not listen on $PROM_PORT"
got=""
for i in $(seq 40); do
    got=$(curl -s --max-time 5 "http://127.0.0.1:$PROM_PORT/api/v1/query?query=qs_store_messages_stored_total" |
          jq -r '.data.result[0].value[1] // empty' 2>/dev/null || true)
    [[ -n $got ]] && break
    sleep 0.5
done
qs_expect_eq "prometheus query qs_store_messages_stored_total" "$got" "$(qs_stat .stored)"
up=$(curl -s "http://127.0.0.1:$PROM_PORT/api/v1/query?query=up" | jq -r '.data.result[0].value[1]')
qs_expect_eq "prometheus up{job=quietstate}" "$up" 1
qs_stop prometheus

qs_step "metrics_public = token: a token is needed"
qs_stop web
printf 'metrics_public = token\n' >>"$QS_HOME/quietstate.conf"
qs_start web "$QS_WEB" --home "$QS_HOME"
qs_wait_listen "$WEB_PORT" 20 || qs_fail "qs-web does not listen on $WEB_PORT"
qs_expect_eq "no token" "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/metrics")" 401
qs_expect_eq "bad token" "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer qs_nope' "$BASE/metrics")" 401
for u in op adm po; do
    qs_expect_eq "token of $u" "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$QS_TMP/tok/$u")" "$BASE/metrics")" 200
done
qs_step "metrics: ok"
