#!/usr/bin/env bash
# package.sh - build the Debian packages quietstate (site server) and
# quietstate-producer (endpoint) from this tree, and check them with lintian.
#
#   scripts/package.sh [--out DIR] [--check]
#
# dpkg-buildpackage -b runs on a copy of the tree (the tracked and untracked,
# not ignored files), so the work tree gets no debian/ build products; the
# .debs, .buildinfo and .changes land in DIR (default build-deb/). --check also
# builds and runs the unit tests inside the package build. lintian must report
# no error (warnings are printed). Needs the packages of scripts/setup.sh.
# Exit 0 ok, 1 failure, 2 usage error.
set -euo pipefail

usage() { echo "usage: scripts/package.sh [--out DIR] [--check]" >&2; exit 2; }
die() { echo "package: $*" >&2; exit 1; }

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build-deb
check=0
while (($#)); do
    case $1 in
        --out) (($# >= 2)) || usage; out=$2; shift 2 ;;
        --check) check=1; shift ;;
        -h|--help) sed -n '2,12s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) usage ;;
    esac
done

for t in dpkg-buildpackage dh lintian dpkg-parsechangelog; do
    command -v "$t" >/dev/null || die "$t is missing: run scripts/setup.sh (as root)"
done

# One version: CMake's project() and debian/changelog must agree.
cmake_version=$(sed -n 's/^project(quietstate VERSION \([0-9.]*\).*/\1/p' "$top/CMakeLists.txt")
deb_version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
[[ -n $cmake_version && $deb_version == "$cmake_version"* ]] ||
    die "debian/changelog says $deb_version but CMakeLists.txt says $cmake_version: add a changelog entry"

work=$(mktemp -d "${TMPDIR:-/tmp}/qs-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/quietstate-$deb_version
mkdir -p "$src"
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$top" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
        tar --null -T - -cf -) | tar -xf - -C "$src"
else
    tar -C "$top" --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C "$src"
fi

opts="parallel=$(nproc)"
((check)) || opts+=" nocheck"
echo "package: dpkg-buildpackage -b in $src (DEB_BUILD_OPTIONS=$opts)"
(cd "$src" && DEB_BUILD_OPTIONS=$opts dpkg-buildpackage -b -us -uc) > "$work/build.log" 2>&1 ||
    { tail -n 60 "$work/build.log" >&2; die "dpkg-buildpackage failed (log above)"; }

mkdir -p "$out"
changes=$(ls "$work"/quietstate_"$deb_version"_*.changes)
for f in "$work"/*.deb "$work"/*.ddeb "$work"/*.buildinfo "$changes"; do
    [[ -e $f ]] && cp "$f" "$out/"
done

echo "package: lintian"
lintian --fail-on error --tag-display-limit 0 "$out/${changes##*/}" ||
    die "lintian reports errors"

echo "package: built"
ls -1 "$out"/quietstate_"$deb_version"_*.deb "$out"/quietstate-producer_"$deb_version"_*.deb
