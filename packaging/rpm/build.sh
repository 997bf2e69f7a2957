#!/usr/bin/env bash
# Builds the RPM of vifd with rpmbuild and packaging/rpm/vifd.spec:
#     <target>/rpm/RPMS/<arch>/vifd-<version>-1.<arch>.rpm
#
# By default it packages a binary built beforehand (VIFD_BIN, default <target>/release/vifd,
# <target> being CARGO_TARGET_DIR or target; built with `cargo build --release --locked` when
# missing), so it also works where rpmbuild is Debian's (package rpm), without an RPM distribution's build dependencies.
# VIFD_RPM_FROM_SOURCE=1 has rpmbuild run cargo itself and also write the source RPM
# (<target>/rpm/SRPMS/), as on an RPM distribution.
#
# Environment: VIFD_BIN, VIFD_RPM_FROM_SOURCE, OUT_DIR (default <target>/rpm).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

die() { echo "rpm/build.sh: $*" >&2; exit 1; }
command -v rpmbuild >/dev/null || die "rpmbuild is missing (apt-get install rpm, or dnf install rpm-build)"

version=$(awk -F'"' '/^\[package\]/ {p = 1; next} /^\[/ {p = 0}
                     p && $1 ~ /^version *= *$/ {print $2; exit}' Cargo.toml)
spec_version=$(awk '/^Version:/ {print $2; exit}' packaging/rpm/vifd.spec)
[ "$version" = "$spec_version" ] ||
    die "packaging/rpm/vifd.spec says Version $spec_version, Cargo.toml $version"

# Cargo's target directory: CARGO_TARGET_DIR when set, as cargo itself does.
target_dir=${CARGO_TARGET_DIR:-target}
out_dir=${OUT_DIR:-$target_dir/rpm}
mkdir -p "$out_dir"/{SOURCES,SPECS,BUILD,RPMS,SRPMS}
top=$(cd "$out_dir" && pwd)

# The source tarball: this working tree, without build output or version control.
tar --exclude=./target --exclude=./.git --transform "s|^\.|vifd-$version|" \
    -czf "$top/SOURCES/vifd-$version.tar.gz" .
cp packaging/rpm/vifd.spec "$top/SPECS/"

args=(--define "_topdir $top")
if [ "${VIFD_RPM_FROM_SOURCE:-0}" = 1 ]; then
    rpmbuild "${args[@]}" -ba "$top/SPECS/vifd.spec"
    exit 0
fi

bin=${VIFD_BIN:-$target_dir/release/vifd}
if [ ! -x "$bin" ]; then
    [ -z "${VIFD_BIN:-}" ] || die "VIFD_BIN=$bin is not an executable"
    cargo build --release --locked
fi
reported=$("$bin" --version)
[ "$reported" = "vifd $version" ] || die "$bin says '$reported', Cargo.toml says $version: rebuild it"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

# --nodeps: the build dependencies (cargo, libvirt-devel, systemd-rpm-macros) are not
# needed around a prebuilt binary, and are unknown to rpm's database outside RPM systems.
rpmbuild "${args[@]}" --nodeps --define "vifd_prebuilt $bin" -bb "$top/SPECS/vifd.spec"
find "$top/RPMS" -name "vifd-$version-*.rpm"
