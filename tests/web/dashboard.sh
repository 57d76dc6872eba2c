#!/usr/bin/env bash
# dashboard.sh - the dashboard served by qs-web, in a real browser, against a real site.
#
# Proves: the dashboard's files come with the right Content-Type, an ETag
# (304 on If-None-Match), a strict Content-Security-Policy and the other
# security headers (as does every API answer); no path reaches another file
# (traversal, encoded traversal, files outside the fixed list: 400/404).
# Then Debian's chromium, headless, driven by playwright-core
# (tests/web/browser/dashboard.test.js): each role logs in with the keyboard;
# the compliance table equals `qsctl compliance --format json` cell for cell,
# a suppressed cell shows "<k"; an operator is refused the lookup page and the
# API answers 403 behind it; the privacy officer changes k and sees it
# applied; an update's page draws its trend (an SVG line, one point per day
# with a snapshot: qs-retention is run on three days here, the chart has
# those three points and gaps elsewhere); no CSP violation, the token in no
# URL; first meaningful paint < 1 s.
# Screenshots and timings go to QS_ARTIFACT_DIR (default ./dashboard-artifacts);
# QS_UPDATE_DOC_IMAGES=1 copies a few into docs/images/.
# Installs what it needs: chromium and nodejs/npm (apt, when root) and
# playwright-core (npm ci from the committed lockfile).
# Usage: QS_BUILD_DIR=build bash tests/web/dashboard.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/browser/site.sh"
BROWSER_DIR="$SRC_DIR/tests/web/browser"
ART=${QS_ARTIFACT_DIR:-$PWD/dashboard-artifacts}
NEW_K=2

qs_step "tools: chromium, node, playwright-core"
if ! command -v chromium >/dev/null || ! command -v npm >/dev/null; then
    [[ $(id -u) == 0 ]] || qs_die "needs chromium and npm (apt-get install chromium nodejs npm)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium nodejs npm >/dev/null ||
        qs_die "cannot install chromium nodejs npm"
fi
qs_need_cmd jq curl chromium node npm
want_pw=$(jq -r '.packages["node_modules/playwright-core"].version' "$BROWSER_DIR/package-lock.json")
have_pw=$(jq -r .version "$BROWSER_DIR/node_modules/playwright-core/package.json" 2>/dev/null || true)
if [[ $have_pw != "$want_pw" ]]; then
    (cd "$BROWSER_DIR" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) ||
        qs_die "npm ci in $BROWSER_DIR failed"
fi
qs_info "$(chromium --version 2>/dev/null | head -n 1), node $(node --version)"

qs_find_bins "${1:-}"
qs_tmp_new
DASH_WEB_CONF=()
qs_step "a site with $DASH_CLIENTS reporting clients, policy k=$DASH_K, qs-web"
dash_site_up

hdr() {   # hdr URL_PATH [CURL_ARGS...]: headers of a GET into $QS_TMP/h, code in CODE
    local p=$1
    shift
    CODE=$(curl -s --path-as-is -D "$QS_TMP/h" -o "$QS_TMP/b" -w '%{http_code}' --max-time 10 "$@" "$BASE$p")
}
has() { grep -qi "^$1: $2" "$QS_TMP/h" || qs_fail "$3: no '$1: $2' in:"$'\n'"$(cat "$QS_TMP/h")"; }

qs_step "static files: types, caching, security headers"
for f in /:text/html /index.html:text/html /app.js:text/javascript /style.css:text/css /favicon.svg:image/svg+xml; do
    hdr "${f%%:*}"
    qs_expect_eq "GET ${f%%:*}" "$CODE" 200
    has Content-Type "${f#*:}" "GET ${f%%:*}"
    has Cache-Control "public, max-age=" "GET ${f%%:*}"
    has Content-Security-Policy "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:;.*frame-ancestors 'none'" "GET ${f%%:*}"
    has X-Content-Type-Options nosniff "GET ${f%%:*}"
    has X-Frame-Options DENY "GET ${f%%:*}"
    has Referrer-Policy no-referrer "GET ${f%%:*}"
done
cmp -s "$QS_TMP/b" "$SRC_DIR/web/static/favicon.svg" || qs_fail "favicon.svg differs from web/static/"
hdr /app.js
etag=$(sed -n 's/^ETag: *\(.*\)\r$/\1/Ip' "$QS_TMP/h")
[[ $etag == \"*\" ]] || qs_fail "no strong ETag on /app.js: $etag"
hdr /app.js -H "If-None-Match: $etag"
qs_expect_eq "GET /app.js with its ETag" "$CODE" 304
grep -q "Authorization" "$SRC_DIR/web/static/app.js" || qs_fail "app.js sends no Authorization header"
grep -Eqi "<script>|style=|on(click|load)=" "$SRC_DIR/web/static/index.html" &&
    qs_fail "index.html has inline script, style or handlers (the CSP forbids them)"
for p in /api/v1/policy /nothing; do
    hdr "$p"
    has Content-Security-Policy "default-src 'none'" "GET $p"
    has X-Frame-Options DENY "GET $p"
done

qs_step "no path reaches another file"
for p in '/../quietstate.conf:400' '/static/../../etc/passwd:400' '/%2e%2e/%2e%2e/etc/passwd:400' \
         '/..%2f..%2fetc%2fpasswd:400' '/web/static/app.js:404' '/app.js/:404' '/keys/site.key:404' \
         '/store.db:404' '/.:400' '/APP.JS:404' '/index.htm:404'; do
    hdr "${p%:*}"
    qs_expect_eq "GET ${p%:*}" "$CODE" "${p##*:}"
    grep -q root: "$QS_TMP/b" && qs_fail "GET ${p%:*} returned /etc/passwd"
done
cp "$QS_HOME/quietstate.conf" "$QS_TMP/conf.saved"
mkdir "$QS_TMP/evil" && cp "$SRC_DIR"/web/static/* "$QS_TMP/evil/" && ln -sf /etc/passwd "$QS_TMP/evil/style.css"
qs_expect_rc 0 "$QS_TMP/conf-evil.out" sed -i "s|^static_dir = .*|static_dir = $QS_TMP/evil|" "$QS_HOME/quietstate.conf"
qs_free_port EVIL_PORT
sed -i "s/^listen = .*/listen = 127.0.0.1:$EVIL_PORT/" "$QS_HOME/quietstate.conf"
qs_expect_rc 1 "$QS_TMP/web-evil.out" timeout 10 "$QS_WEB" --home "$QS_HOME"
grep -q "symlinks are refused" "$QS_TMP/web-evil.out.err" ||
    qs_fail "qs-web served a symlinked dashboard file: $(tail -3 "$QS_TMP/web-evil.out.err")"
cp "$QS_TMP/conf.saved" "$QS_HOME/quietstate.conf"

qs_step "daily snapshots for the trend chart: qs-retention 3 days ago, 2 days ago and today"
[[ -x ${QS_RETENTION:-} ]] || qs_fail "QS_RETENTION (qs-retention) is not set or not executable"
for d in -3 -2 0; do
    qs_expect_rc 0 "$QS_TMP/retention$d.out" env QS_CLOCK_OFFSET_S=$(( d * 86400 )) \
        "$QS_RETENTION" --home "$QS_HOME" --once
done
qs_expect_rc 0 "$QS_TMP/trend.json" "$QSCTL" compliance --home "$QS_HOME" --trend --days 30 --format json
qs_expect_eq "days with a snapshot" "$(jq '.days - (.missing_days | length)' "$QS_TMP/trend.json")" 3

qs_step "the browser: every role"
qs_expect_rc 0 "$QS_TMP/expected.json" "$QSCTL" compliance --home "$QS_HOME" --format json
qs_info "qsctl compliance: $(jq -c '{k, rows: (.rows|length), suppressed: ([.rows[]|select(.count==null)]|length)}' "$QS_TMP/expected.json")"
rm -rf "$ART" && mkdir -p "$ART"
BASE=$BASE TOK_DIR=$QS_TMP/tok EXPECTED=$QS_TMP/expected.json NEW_K=$NEW_K OUT_DIR=$ART \
    TREND=$QS_TMP/trend.json SNAPSHOT_DAYS=3 \
    NODE_PATH="$BROWSER_DIR/node_modules" timeout 180 node "$BROWSER_DIR/dashboard.test.js" \
    >"$QS_TMP/browser.out" 2>&1 || qs_fail "browser test failed:"$'\n'"$(tail -n 30 "$QS_TMP/browser.out")"
tail -n 1 "$QS_TMP/browser.out"
qs_info "timings: $(jq -c . "$ART/timings.json")"
qs_expect_rc 0 "$QS_TMP/policy.json" "$QSCTL" policy show --home "$QS_HOME" --format json
qs_expect_eq "policy k after the officer's change" "$(jq .k "$QS_TMP/policy.json")" "$NEW_K"
qs_expect_eq "policy set by" "$(jq -r .actor "$QS_TMP/policy.json")" "web:po"
ls "$ART"/*.png >/dev/null || qs_fail "no screenshots in $ART"
if [[ ${QS_UPDATE_DOC_IMAGES:-0} == 1 ]]; then
    for s in compliance-laptop compliance-phone privacy lookup-refused; do
        cp "$ART/$s.png" "$SRC_DIR/docs/images/dashboard-$s.png"
    done
fi
qs_step "dashboard: ok (screenshots in $ART)"
