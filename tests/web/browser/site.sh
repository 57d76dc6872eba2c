# site.sh - a real site with real data for the dashboard and /metrics tests (sourced).
#
# Needs lib.sh sourced and QSCTL, QS_WEB, QS_BROKER, QS_STORE, QS_PRODUCER.
# Makes: a site (broker, store, qs-web on free loopback ports, the dashboard
# from web/static/), a policy (k=$DASH_K), $DASH_CLIENTS simulated clients
# delivering $DASH_MESSAGES messages, one user of each role with its token in
# $QS_TMP/tok/{op,adm,po} (0600), and BASE=http://127.0.0.1:PORT.
DASH_K=${DASH_K:-3}
DASH_CLIENTS=${DASH_CLIENTS:-40}
DASH_MESSAGES=${DASH_MESSAGES:-400}
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)

dash_site_up() {
    if [[ -z ${QS_WEB:-} ]]; then
        QS_WEB=$(find "${QS_BUILD_DIR:-build}" -maxdepth 3 -type f -name qs-web -perm -u+x | head -n 1)
    fi
    [[ -x ${QS_WEB:-} ]] || qs_die "cannot find the qs-web binary (set QS_WEB)"
    qs_site_init
    qs_free_port WEB_PORT
    BASE="http://127.0.0.1:$WEB_PORT"
    sed -i "s/^listen = .*/listen = 127.0.0.1:$WEB_PORT/" "$QS_HOME/quietstate.conf"
    printf 'static_dir = %s\n' "$SRC_DIR/web/static" >>"$QS_HOME/quietstate.conf"
    printf '%s\n' "${DASH_WEB_CONF[@]}" >>"$QS_HOME/quietstate.conf"
    mkdir -m 700 "$QS_TMP/tok"
    for u in op:operator adm:admin po:privacy-officer; do
        qs_expect_rc 0 "$QS_TMP/user-${u%%:*}.out" "$QSCTL" user add --home "$QS_HOME" \
            --name "${u%%:*}" --role "${u#*:}" --out "$QS_TMP/tok/${u%%:*}" --as e2e-dash
    done
    qs_expect_rc 0 "$QS_TMP/policy.out" "$QSCTL" policy set --home "$QS_HOME" --k "$DASH_K" \
        --as e2e-dash
    qs_start_site
    qs_expect_rc 0 "$QS_TMP/sim.json" "$QS_PRODUCER" simulate --home "$QS_HOME" \
        --clients "$DASH_CLIENTS" --messages "$DASH_MESSAGES" --timeout 60 --format json
    qs_expect_eq "simulate .acked" "$(qs_json_get "$QS_TMP/sim.json" .acked)" "$DASH_MESSAGES"
    qs_start web "$QS_WEB" --home "$QS_HOME"
    qs_wait_listen "$WEB_PORT" 20 || qs_fail "qs-web does not listen on $WEB_PORT"
}
