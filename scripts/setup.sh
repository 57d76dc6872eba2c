#!/usr/bin/env bash
# setup.sh - install what quietstate needs to build, run and test on Debian 12.
#
# Asks dpkg which of the packages below are missing; with none missing it does
# nothing at all (no apt work), so it is cheap to run before every build. As
# root it runs `apt-get update` once and installs the missing ones without
# recommends; as another user it prints the exact command to run and exits 1.
# Works on a machine with no compiler, cmake or pkg-config: it needs only
# bash, dpkg-query and apt-get. Idempotent. See README.md for why each is needed.
set -euo pipefail

PACKAGES=(
    build-essential        # gcc, make, libc headers
    cmake                  # the build
    pkg-config             # how CMake finds the libraries below
    git
    libsodium-dev          # crypto_box, BLAKE2b pseudonyms, XChaCha20 at rest, locked memory
    libzmq3-dev            # CurveZMQ transport, ZAP
    libsqlite3-dev         # the store and the site database
    sqlite3                # inspecting databases by hand
    libpq-dev              # the store's PostgreSQL engine ([store] database)
    postgresql             # tests start their own server (initdb, pg_ctl) in a temp dir
    libprotobuf-c-dev      # wire format runtime
    protobuf-c-compiler    # protoc-c: generated code is built, never committed
    libinih-dev            # quietstate.conf (INI)
    libcjson-dev           # --format json output, policy documents
    libmicrohttpd-dev      # qs-web: the HTTP/HTTPS server (Debian's is built with GnuTLS)
    libcurl4-openssl-dev   # qsctl --url: HTTPS client with certificate verification
    libicu-dev             # pseudonyms: Unicode NFC + full case folding of names
    curl                   # web tests speak HTTP to a real qs-web
    openssl                # web tests make a throwaway TLS certificate
    clang                  # sanitizer and fuzzer builds
    libclang-rt-14-dev     # ASan/UBSan/libFuzzer runtimes for clang 14
    valgrind               # memcheck over the unit tests
    jq                     # end-to-end tests compare JSON output
    iproute2               # ss: fault tests look at sockets
    procps                 # ps, pgrep for tests that watch processes
    socat                  # tests receive syslog (/dev/log) to check the audit's copy
    python3                # tests/ctl/formats.sh parses every JSON and CSV output with real parsers
    ca-certificates
    # Shipping (docs/install.md): man pages are built from man/*.scd with scdoc;
    # scripts/package.sh builds the .debs with dpkg-buildpackage and debhelper
    # and checks them with lintian; tests/ship/package.sh installs them in a
    # debootstrapped root; tests/ship/units.sh runs systemd-analyze verify.
    scdoc                  # man pages from man/*.scd
    dpkg-dev
    debhelper
    fakeroot
    lintian
    debootstrap
    systemd                # systemd-analyze verify of the units
    man-db                 # systemd-analyze verify looks the units' man pages up
)
# The dashboard's browser test and /metrics' test (tests/web/dashboard.sh,
# tests/web/metrics.sh, docs/dashboard.md): a real browser driven by
# playwright-core from npm, and a real Prometheus with promtool.
PACKAGES+=(
    chromium               # headless browser for tests/web/dashboard.sh
    nodejs                 # runs tests/web/browser/dashboard.test.js
    npm                    # npm ci of playwright-core from the committed lockfile
    prometheus             # scrapes /metrics; promtool checks metrics and alert rules
)

missing=()
for p in "${PACKAGES[@]}"; do
    # "ii " is installed and configured; anything else (absent, half-installed,
    # removed with config files left) needs installing.
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    [[ $status == "ii "* ]] && continue
    # A nodejs from another repository (NodeSource) brings its own npm and
    # conflicts with Debian's npm package: a working npm is what is needed.
    if [[ $p == npm ]] && command -v npm >/dev/null 2>&1; then
        continue
    fi
    missing+=("$p")
done

if (( ${#missing[@]} == 0 )); then
    echo "setup: all ${#PACKAGES[@]} packages present"
    exit 0
fi

if (( $(id -u) != 0 )); then
    echo "setup: missing packages: ${missing[*]}" >&2
    echo "setup: install them as root with:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update </dev/null
apt-get install -y --no-install-recommends "${missing[@]}" </dev/null

still=()
for p in "${missing[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    [[ $status == "ii "* ]] || still+=("$p")
done
if (( ${#still[@]} > 0 )); then
    echo "setup: still missing after apt-get install: ${still[*]}" >&2
    exit 1
fi
echo "setup: done"
