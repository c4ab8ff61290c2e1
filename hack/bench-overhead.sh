#!/usr/bin/env bash
# What the monitor costs a container, all in one run: the same syscall-heavy workloads in a busybox
# container under plain runc; under runc with `floor`, a minimal C notify supervisor
# (hack/bench/notify-floor.c: blocking RECV, CONTINUE, nothing else: the least any notify monitor
# can cost); under ids-runc with the null monitor (answers CONTINUE, no detector), without
# synchronous wake-ups, and with the detector learning and detecting; and the same three (null,
# learn, detect) under the ptrace monitor (pt-*); and learning and detecting in the kernel (eb-*,
# the ebpf monitor). The floor of the two ptrace stop mechanisms (PTRACE_SYSCALL,
# SECCOMP_RET_TRACE) is measured on a host process by hack/bench/ptrace-floor.c.
# The modes take turns within each round, so that drift of the machine hits them alike; per cell
# the median and the minimum over the rounds are printed (on 2 vCPUs the notify round trip is
# bimodal, depending on where the scheduler puts the monitor, so both matter).
#
#   hack/bench-overhead.sh            RUNS=7 rounds
#   RUNS=3 FILES=5000 hack/bench-overhead.sh
#
# Workloads:
#   files     read FILES (default 20000) files of the host's /usr, bind-mounted read-only
#   getppid   GETPPID (default 200000) getppid calls in a tight loop (a static C program)
#   forkexec  FORKS (default 500) fork+exec of /bin/true from a shell loop
# Start latency: `runc run` of `true`, median of STARTS (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-7}
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
  # `runc run` deletes its container itself, so a learning monitor ends (and saves its profile)
  # on its own, a moment later: let the last ones finish before their directories go.
  for _ in $(seq 100); do pgrep -f "monitor --state-dir $short/" >/dev/null || break; sleep 0.1; done
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
gcc -O2 -pthread -o "$work/notify-floor" hack/bench/notify-floor.c
mkdir -p "$rootfs/hostusr"
base=$(jq --arg src /usr '.mounts += [{"destination": "/hostusr", "type": "bind", "source": $src, "options": ["rbind", "ro"]}]' "$work/bundle/config.json")

script_files="find /hostusr -type f 2>/dev/null | head -n $FILES | xargs cat >/dev/null 2>&1; true"
script_getppid="getppid $GETPPID >/dev/null"
script_forkexec="i=0; while [ \$i -lt $FORKS ]; do /bin/true; i=\$((i+1)); done"

# The seccomp section ids-runc would give the container, pointed at the floor's socket instead.
floor_seccomp() {
  jq '.annotations = {"io.ids-runc.mode": "null"} | .process.args = ["true"]' <<<"$base" >"$work/bundle/config.json"
  IDS_RUNC_CONFIG=$work/ids-runc.json "$ids_runc" --root "$work/runc-root" run --bundle "$work/bundle" floor-probe </dev/null >/dev/null
  jq --arg l "$work/floor.sock" '.linux.seccomp | .listenerPath = $l' "$work/bundle/config.json"
}

# config <mode> <sh script> <profile name>: writes the bundle's config.json.
config() {
  local mode=$1 script=$2 profile=$3
  jq --arg mode "$mode" --arg script "$script" --arg profile "$profile" --argjson floor "$floor" '
    .process.args = ["sh", "-c", $script]
    | if $mode == "runc" then .
      elif $mode == "floor" then .linux.seccomp = $floor
      elif ($mode | startswith("pt-")) then
        .annotations = {"io.ids-runc.mode": ($mode | ltrimstr("pt-")), "io.ids-runc.monitor": "ptrace",
                        "io.ids-runc.profile": ($profile + "-ptrace"), "io.ids-runc.action": "log"}
      elif ($mode | startswith("eb-")) then
        .annotations = {"io.ids-runc.mode": ($mode | ltrimstr("eb-")), "io.ids-runc.monitor": "ebpf",
                        "io.ids-runc.profile": ($profile + "-ebpf"), "io.ids-runc.action": "log"}
      else
        .annotations = {"io.ids-runc.mode": (if $mode == "null-nosync" then "null" else $mode end),
                        "io.ids-runc.profile": $profile, "io.ids-runc.action": "log"}
      end' <<<"$base" >"$work/bundle/config.json"
}

n=0
# one_run <runtime> [floor]: seconds of one `run` of the bundle (with the floor supervisor started
# first when asked)
one_run() {
  n=$((n + 1))
  local start end
  if [ "${2:-}" = floor ]; then
    "$work/notify-floor" "$work/floor.sock" >/dev/null &
    for _ in $(seq 100); do [ -S "$work/floor.sock" ] && break; sleep 0.01; done
  fi
  start=$(date +%s%N)
  (cd "$work/bundle" && "$1" --root "$work/runc-root" run "bench-$n" </dev/null >/dev/null 2>&1) \
    || { echo "bench: run $n under $1 failed" >&2; exit 1; }
  end=$(date +%s%N)
  [ "${2:-}" = floor ] && { wait; rm -f "$work/floor.sock"; }
  awk -v a="$start" -v b="$end" 'BEGIN {printf "%.4f\n", (b - a) / 1e9}'
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
minimum() { sort -n | head -1; }

# sample <mode> <workload>: seconds of one run
sample() {
  local mode=$1 workload=$2 script var runtime=$ids_runc
  var=script_$workload
  script=${!var}
  case $mode in runc|floor) runtime=$runc ;; esac
  config "$mode" "$script" "bench-$workload"
  export IDS_RUNC_CONFIG=$work/ids-runc.json
  [ "$mode" = null-nosync ] && export IDS_RUNC_CONFIG=$work/ids-runc-nosync.json
  if [ "$mode" = floor ]; then one_run "$runtime" floor; else one_run "$runtime"; fi
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }

floor=$(floor_seccomp)
modes=(runc floor null null-nosync learn detect pt-null pt-learn pt-detect eb-learn eb-detect)
declare -A samples
for workload in files getppid forkexec; do
  # learn first, so that detect has a profile from the first round on
  sample learn "$workload" >/dev/null
  sample pt-learn "$workload" >/dev/null
  sample eb-learn "$workload" >/dev/null
  for round in $(seq "$RUNS"); do
    for mode in "${modes[@]}"; do
      samples[$mode,$workload]+="$(sample "$mode" "$workload") "
    done
    echo "bench: $workload round $round/$RUNS done" >&2
  done
done

stat() { tr ' ' '\n' | grep . | "$1"; }
for what in median minimum; do
  printf '\n%s seconds over %s rounds\n' "$what" "$RUNS"
  printf '%-10s %8s %8s %8s %12s %8s %8s   %9s %10s %11s %11s\n' workload runc floor null null-nosync learn detect \
    null/floor detect/null learn/null nosync/null
  for workload in files getppid forkexec; do
    declare -A v=()
    for mode in "${modes[@]}"; do v[$mode]=$(stat "$what" <<<"${samples[$mode,$workload]}"); done
    printf '%-10s %8s %8s %8s %12s %8s %8s   %8sx %9sx %10sx %10sx\n' "$workload" \
      "${v[runc]}" "${v[floor]}" "${v[null]}" "${v[null-nosync]}" "${v[learn]}" "${v[detect]}" \
      "$(ratio "${v[null]}" "${v[floor]}")" "$(ratio "${v[detect]}" "${v[null]}")" \
      "$(ratio "${v[learn]}" "${v[null]}")" "$(ratio "${v[null-nosync]}" "${v[null]}")"
  done
done

for what in median minimum; do
  printf '\nptrace monitor: %s seconds over %s rounds\n' "$what" "$RUNS"
  printf '%-10s %8s %8s %8s %8s %8s   %11s %13s %15s %15s\n' workload runc null pt-null pt-learn pt-detect \
    pt-null/runc pt-null/null pt-detect/pt-null pt-detect/detect
  for workload in files getppid forkexec; do
    declare -A v=()
    for mode in "${modes[@]}"; do v[$mode]=$(stat "$what" <<<"${samples[$mode,$workload]}"); done
    printf '%-10s %8s %8s %8s %8s %8s   %10sx %12sx %14sx %14sx\n' "$workload" \
      "${v[runc]}" "${v[null]}" "${v[pt-null]}" "${v[pt-learn]}" "${v[pt-detect]}" \
      "$(ratio "${v[pt-null]}" "${v[runc]}")" "$(ratio "${v[pt-null]}" "${v[null]}")" \
      "$(ratio "${v[pt-detect]}" "${v[pt-null]}")" "$(ratio "${v[pt-detect]}" "${v[detect]}")"
  done
done

for what in median minimum; do
  printf '\nin-kernel (ebpf) monitor: %s seconds over %s rounds\n' "$what" "$RUNS"
  printf '%-10s %8s %8s %8s %8s   %13s %15s\n' workload runc detect eb-learn eb-detect \
    eb-detect/runc eb-detect/detect
  for workload in files getppid forkexec; do
    declare -A v=()
    for mode in "${modes[@]}"; do v[$mode]=$(stat "$what" <<<"${samples[$mode,$workload]}"); done
    printf '%-10s %8s %8s %8s %8s   %12sx %14sx\n' "$workload" \
      "${v[runc]}" "${v[detect]}" "${v[eb-learn]}" "${v[eb-detect]}" \
      "$(ratio "${v[eb-detect]}" "${v[runc]}")" "$(ratio "${v[eb-detect]}" "${v[detect]}")"
  done
done

echo
echo "ptrace stop mechanisms on a host process (hack/bench/ptrace-floor.c, $GETPPID getppid calls, 3 runs):"
gcc -O2 -o "$work/ptrace-floor" hack/bench/ptrace-floor.c
for _ in 1 2 3; do "$work/ptrace-floor" "$GETPPID" | paste -sd' '; done

echo
echo "start latency (runc run of true, median of $STARTS):"
export IDS_RUNC_CONFIG=$work/ids-runc.json
for mode in runc null learn pt-null pt-learn eb-learn; do
  config "$mode" "true" bench-start
  runtime=$ids_runc; [ "$mode" = runc ] && runtime=$runc
  s=$(for _ in $(seq "$STARTS"); do one_run "$runtime"; done | median)
  printf '  %-8s %6.1f ms\n' "$mode" "$(awk -v s="$s" 'BEGIN {print s * 1000}')"
done
