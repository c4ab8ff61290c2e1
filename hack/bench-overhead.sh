#!/usr/bin/env bash
# What the monitor costs a container, all in one run: the same syscall-heavy workloads in a busybox
# container under plain runc, under ids-runc with the null monitor (answers CONTINUE, no detector),
# with the detector learning and detecting, and the null monitor without synchronous wake-ups.
#
#   hack/bench-overhead.sh            RUNS=5 runs per cell, medians
#   RUNS=3 FILES=5000 hack/bench-overhead.sh
#
# Workloads:
#   files     read FILES (default 20000) files of the host's /usr, bind-mounted read-only
#   getppid   GETPPID (default 200000) getppid calls in a tight loop (a static C program)
#   forkexec  FORKS (default 500) fork+exec of /bin/true from a shell loop
# Start latency: `runc run` of `true`, median of STARTS (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
FILES=${FILES:-20000}
GETPPID=${GETPPID:-200000}
FORKS=${FORKS:-500}
STARTS=${STARTS:-10}

hack/setup.sh --deps >/dev/null
cargo build --release --locked -q -p ids-runc
ids_runc=$PWD/target/release/ids-runc
runc=$(command -v runc)

work=$(mktemp -d /tmp/ids-bench.XXXXXX)
short=$(mktemp -d /run/ids-b.XXXXXX)
cleanup() {
  for id in $("$runc" --root "$work/runc-root" list -q 2>/dev/null); do
    "$runc" --root "$work/runc-root" delete -f "$id" >/dev/null 2>&1 || true
  done
  rm -rf "$work" "$short"
}
trap cleanup EXIT

host_config() {
  cat <<EOF
{"state_dir": "$short", "profile_dir": "$work/profiles", "events_path": "$work/events.jsonl",
 "runs_dir": "$work/runs", "runtime": "$runc", "sync_wake_up": $1}
EOF
}
host_config true >"$work/ids-runc.json"
host_config false >"$work/ids-runc-nosync.json"

hack/test-bundle.sh "$work/bundle" true >/dev/null
rootfs=$work/bundle/rootfs
gcc -O2 -static -o "$rootfs/bin/getppid" hack/bench/getppid.c
mkdir -p "$rootfs/hostusr"
base=$(jq --arg src /usr '.mounts += [{"destination": "/hostusr", "type": "bind", "source": $src, "options": ["rbind", "ro"]}]' "$work/bundle/config.json")

script_files="find /hostusr -type f 2>/dev/null | head -n $FILES | xargs cat >/dev/null 2>&1; true"
script_getppid="getppid $GETPPID >/dev/null"
script_forkexec="i=0; while [ \$i -lt $FORKS ]; do /bin/true; i=\$((i+1)); done"

# config <mode> <sh script> <profile name>: writes the bundle's config.json.
config() {
  local mode=$1 script=$2 profile=$3
  jq --arg mode "$mode" --arg script "$script" --arg profile "$profile" '
    .process.args = ["sh", "-c", $script]
    | if $mode == "runc" then . else
        .annotations = {"io.ids-runc.mode": (if $mode == "null-nosync" then "null" else $mode end),
                        "io.ids-runc.profile": $profile, "io.ids-runc.action": "log"}
      end' <<<"$base" >"$work/bundle/config.json"
}

n=0
# one_run <runtime> : seconds of one `run` of the bundle
one_run() {
  n=$((n + 1))
  local start end
  start=$(date +%s%N)
  (cd "$work/bundle" && "$1" --root "$work/runc-root" run "bench-$n" </dev/null >/dev/null 2>&1) \
    || { echo "bench: run $n under $1 failed" >&2; exit 1; }
  end=$(date +%s%N)
  awk -v a="$start" -v b="$end" 'BEGIN {printf "%.4f\n", (b - a) / 1e9}'
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# cell <mode> <workload>: median seconds over RUNS
cell() {
  local mode=$1 workload=$2 script var runtime=$ids_runc
  var=script_$workload
  script=${!var}
  [ "$mode" = runc ] && runtime=$runc
  config "$mode" "$script" "bench-$workload"
  export IDS_RUNC_CONFIG=$work/ids-runc.json
  [ "$mode" = null-nosync ] && export IDS_RUNC_CONFIG=$work/ids-runc-nosync.json
  for _ in $(seq "$RUNS"); do one_run "$runtime"; done | median
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }

modes=(runc null null-nosync learn detect)
declare -A t
for workload in files getppid forkexec; do
  for mode in "${modes[@]}"; do
    t[$mode,$workload]=$(cell "$mode" "$workload")
    echo "bench: $workload under $mode: ${t[$mode,$workload]} s" >&2
  done
done

printf '\n%-10s %10s %10s %12s %10s %10s   %s\n' workload "runc s" "null s" "null-nosync" "learn s" "detect s" "null/runc  detect/null  learn/null"
for workload in files getppid forkexec; do
  r=${t[runc,$workload]} z=${t[null,$workload]} zn=${t[null-nosync,$workload]} l=${t[learn,$workload]} d=${t[detect,$workload]}
  printf '%-10s %10s %10s %12s %10s %10s   %8sx  %10sx  %9sx\n' "$workload" "$r" "$z" "$zn" "$l" "$d" \
    "$(ratio "$z" "$r")" "$(ratio "$d" "$z")" "$(ratio "$l" "$z")"
done

echo
echo "start latency (runc run of true, median of $STARTS):"
export IDS_RUNC_CONFIG=$work/ids-runc.json
for mode in runc null learn; do
  config "$mode" "true" bench-start
  runtime=$ids_runc; [ "$mode" = runc ] && runtime=$runc
  s=$(for _ in $(seq "$STARTS"); do one_run "$runtime"; done | median)
  printf '  %-6s %6.1f ms\n' "$mode" "$(awk -v s="$s" 'BEGIN {print s * 1000}')"
done
