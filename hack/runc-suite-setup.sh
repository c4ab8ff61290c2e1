#!/usr/bin/env bash
# Prepare runc's own integration suite for hack/runc-suite.sh (called by hack/setup.sh --runc-suite,
# which installs bats and the other packages first). Idempotent; everything goes to target/runc-suite/:
#   src/            the source package of the installed runc (apt-get source: its tests/integration
#                   is the bats suite of exactly the runc that ids-runc drives here)
#   src/contrib/cmd/{recvtty,sd-helper,seccompagent}/   the suite's helper programs, built from it
#   src/tests/integration/testdata/{busybox,debian}-amd64.tar.xz   rootfs tarballs made here, in
#                   place of the suite's download step (nothing can be downloaded on CI)
set -euo pipefail
cd "$(dirname "$0")/.."
suite=target/runc-suite

# The source of the installed runc needs a deb-src entry for the archive the machine installs from.
# Each deb822 stanza of Debian's archive is copied with `Types: deb-src`.
if ! apt-cache showsrc runc 2>/dev/null | grep -q '^Package: runc'; then
  sources=/etc/apt/sources.list.d/debian.sources
  [ -f "$sources" ] || { echo "runc-suite-setup: no $sources to derive a deb-src entry from; add one for runc's source package" >&2; exit 1; }
  awk 'BEGIN { RS = ""; ORS = "\n\n" } /(^|\n)Types:[^\n]*\<deb\>/ && /debian/ { sub(/Types:[^\n]*/, "Types: deb-src"); print }' \
    "$sources" >/etc/apt/sources.list.d/ids-runc-src.sources.tmp
  mv /etc/apt/sources.list.d/ids-runc-src.sources.tmp /etc/apt/sources.list.d/ids-runc-src.sources
  apt-get update -qq
fi

version=$(dpkg-query -W -f='${Version}' runc)
if [ "$(cat "$suite/version" 2>/dev/null)" != "$version" ]; then
  echo "runc-suite-setup: runc $version source and build dependencies"
  export DEBIAN_FRONTEND=noninteractive
  apt-get build-dep -y -qq "runc=$version" >/dev/null
  rm -rf "$suite"
  mkdir -p "$suite/download"
  (cd "$suite/download" && apt-get source -qq "runc=$version" 2>&1 | grep -v '^dpkg-source: info' >&2 || true)
  unpacked=$(find "$suite/download" -mindepth 1 -maxdepth 1 -type d -name 'runc-*' | head -1)
  [ -n "$unpacked" ] || { echo "runc-suite-setup: apt-get source runc=$version unpacked nothing" >&2; exit 1; }
  mv "$unpacked" "$suite/src"
  rm -rf "$suite/download"
  echo "$version" >"$suite/version"
fi

# The helpers build as Debian builds runc: a GOPATH tree over the Debian Go libraries that
# `build-dep` installed (the source package ships no vendor directory).
src=$(cd "$suite/src" && pwd)
gopath=$PWD/$suite/gopath
gocache=$PWD/$suite/gocache
mkdir -p "$gopath/src/github.com/opencontainers"
ln -sfn "$src" "$gopath/src/github.com/opencontainers/runc"
build() { # NAME [go build flags]
  local name=$1; shift
  [ -x "$src/contrib/cmd/$name/$name" ] && return
  (cd "$gopath/src/github.com/opencontainers/runc" \
    && GOPATH=$gopath:/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE=$gocache \
       go build "$@" -o "contrib/cmd/$name/$name" "./contrib/cmd/$name")
}
build recvtty
build sd-helper
build seccompagent -tags seccomp # without the tag a stub builds and the seccomp-notify tests fail

# Rootfs tarballs under the names the suite's get-images.sh looks for first (it downloads only
# what is missing). busybox: the test rootfs every end-to-end test uses. "debian": hooks.bats runs
# ldconfig inside it, so it is the busybox rootfs plus the host's static ldconfig and a /lib.
testdata=$src/tests/integration/testdata
arch=$(dpkg --print-architecture)
if [ ! -e "$testdata/busybox-$arch.tar.xz" ] || [ ! -e "$testdata/debian-$arch.tar.xz" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  hack/test-bundle.sh "$tmp/bundle" >/dev/null
  # Like the image the suite downloads: no /proc or /sys (runc makes them; mask.bats replaces
  # them with symlinks and expects runc to refuse).
  rmdir "$tmp/bundle/rootfs/proc" "$tmp/bundle/rootfs/sys"
  tar -C "$tmp/bundle/rootfs" -cJf "$testdata/busybox-$arch.tar.xz.tmp" .
  mv "$testdata/busybox-$arch.tar.xz.tmp" "$testdata/busybox-$arch.tar.xz"
  install -m 0755 /sbin/ldconfig "$tmp/bundle/rootfs/bin/ldconfig"
  mkdir -p "$tmp/bundle/rootfs/lib"
  echo /lib >"$tmp/bundle/rootfs/etc/ld.so.conf"
  tar -C "$tmp/bundle/rootfs" -cJf "$testdata/debian-$arch.tar.xz.tmp" .
  mv "$testdata/debian-$arch.tar.xz.tmp" "$testdata/debian-$arch.tar.xz"
fi
# The one test that needs the network skips, as the suite's own tests skip what a machine lacks.
spec_bats=$src/tests/integration/spec.bats
if ! grep -q 'skip "ids-runc CI:' "$spec_bats"; then
  sed -i '/^@test "spec validator" {$/a\	skip "ids-runc CI: no network to git clone runtime-spec from github.com"' "$spec_bats"
fi

echo "runc-suite-setup: runc $version suite ready in $suite"
