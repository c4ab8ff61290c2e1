#!/usr/bin/env bash
# What the in-kernel monitor costs per system call: a static getppid loop (hack/bench/getppid.c)
# run natively with no program loaded, in a monitored cgroup while the kernel learns and while it
# detects (every window known: the steady state), and outside any monitored cgroup while the
# program is attached (what every other process on the host pays). Nanoseconds per call, per
# round, then the median of each column. Needs root and a kernel with BTF; run it on an idle machine.
#
#   hack/bench-ebpf.sh                 RUNS=7 rounds of GETPPID=1000000 calls
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-7}
GETPPID=${GETPPID:-1000000}

hack/setup.sh --deps >/dev/null
cargo build --release --locked -q -p ids-ebpf --example getppid_cost
work=$(mktemp -d /tmp/ids-bench-ebpf.XXXXXX)
pins=/run/ids-runc/bpf-bench
cleanup() {
  umount "$pins" 2>/dev/null || true
  rmdir "$pins" 2>/dev/null || true
  rm -f "$pins.lock"
  rm -rf "$work"
}
trap cleanup EXIT
gcc -O2 -static -o "$work/getppid" hack/bench/getppid.c

target/release/examples/getppid_cost "$work/getppid" "$GETPPID" "$RUNS" | tee "$work/rounds"
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo
printf 'ns per getppid, median of %s rounds of %s calls\n' "$RUNS" "$GETPPID"
printf '%-10s %-10s %-10s %-10s\n' native learn detect outside
printf '%-10s %-10s %-10s %-10s\n' \
  "$(awk '{print $1}' "$work/rounds" | median)" "$(awk '{print $2}' "$work/rounds" | median)" \
  "$(awk '{print $3}' "$work/rounds" | median)" "$(awk '{print $4}' "$work/rounds" | median)"
