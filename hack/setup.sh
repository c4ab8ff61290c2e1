#!/usr/bin/env bash
# Install what ids-runc needs on a Debian machine, build it, and install the binary.
# Idempotent: packages already present are not fetched again, and a rerun only rebuilds.
#   hack/setup.sh            packages + release build + /usr/local/bin/ids-runc
#   hack/setup.sh --deps     packages only
#   --bench-mysql            also what hack/bench-mysql.sh needs (MariaDB, mysqlslap, sqlmap, pymysql),
#                            installed without starting the host's MariaDB service
#   --runc-suite             also runc's own integration suite (hack/runc-suite.sh) and podman: bats,
#                            runc's Debian source and build dependencies, its test helpers built
#                            from it, and busybox rootfs tarballs in place of the suite's downloads
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  runc                # the real runtime ids-runc wraps
  libseccomp-dev      # libseccomp crate links it
  pkg-config
  busybox-static      # test and demo rootfs
  docker.io           # dockerd for the end-to-end tests and the demo
  containerd          # ctr, and dockerd's containerd
  jq                  # bundle and daemon.json edits in scripts
  gcc                 # static load and benchmark programs (hack/bench/*.c)
  libc6-dev           # their static libc
  unzip               # ADFA-LD benchmark
  clang               # the in-kernel monitor's BPF program (ebpf/), and its test helper
  libelf-dev          # libbpf (built from libbpf-sys's vendored copy) links libelf and zlib
  zlib1g-dev
  make                # libbpf-sys builds libbpf with make
  linux-libc-dev      # <linux/bpf.h> for the BPF program
  logrotate           # rotates the events file (deploy/logrotate; tests/tests/ops.rs)
  python3-prometheus-client  # the Prometheus text-format parser tests/tests/ops.rs reads metrics with
)

deps_only=no
bench_mysql=no
runc_suite=no
for arg in "$@"; do
  case $arg in
    --deps) deps_only=yes ;;
    --bench-mysql) bench_mysql=yes ;;
    --runc-suite) runc_suite=yes ;;
    *) echo "setup: unknown option $arg (expected --deps, --bench-mysql, --runc-suite)" >&2; exit 2 ;;
  esac
done
if [ $bench_mysql = yes ]; then
  packages+=(
    mariadb-server    # the database of the paper's experiment (its files make the image)
    mariadb-client    # mysqlslap, mariadb-admin
    sqlmap            # the attacker
    python3-pymysql   # sqlmap's driver for direct connections (-d mysql://...)
    strace            # RECORD=1: the recorded server's system calls, for the parameter sweep
  )
fi

if [ $runc_suite = yes ]; then
  packages+=(
    bats              # runs runc's integration suite
    gawk              # the suite's cgroup helpers
    xz-utils          # the suite's rootfs tarballs
    dpkg-dev          # apt-get source unpacks runc's source package
    podman            # a tested engine (tests/tests/podman.rs)
    conmon            # podman's container monitor
  )
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The benchmark runs MariaDB in containers only: keep the package's service from starting on the
  # host (policy-rc.d, if the machine has none of its own, for the time of the install).
  no_start=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    no_start=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$no_start"
    chmod 0755 "$no_start"
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { [ -z "$no_start" ] || rm -f "$no_start"; exit 1; }
  [ -z "$no_start" ] || rm -f "$no_start"
fi
if [ $runc_suite = yes ]; then hack/runc-suite-setup.sh; fi
[ $deps_only = yes ] && exit 0

command -v cargo >/dev/null || { echo "setup: cargo not found: install a Rust toolchain (rustup)" >&2; exit 1; }
cargo build --release --locked -p ids-runc
# Replace the installed binary atomically: a running container manager may exec it at any moment.
install -m 0755 target/release/ids-runc /usr/local/bin/.ids-runc.new
mv -f /usr/local/bin/.ids-runc.new /usr/local/bin/ids-runc
echo "setup: installed /usr/local/bin/ids-runc ($(/usr/local/bin/ids-runc --version | tail -1))"
