#!/usr/bin/env bash
# The monitor under load, at full size (tests/tests/load.rs runs the CI-sized versions): per
# scenario the monitor's peak and final memory (VmHWM, VmRSS from /proc) and CPU time (user+system),
# and afterwards what was left behind. Runs on a private dockerd of its own (own data root, state
# root, profile store, events), so it touches neither the host's dockerd nor /run/ids-runc.
#
#   hack/bench-load.sh                      full size
#   AT_ONCE=20 IN_A_ROW=200 EXECS=1000 THREADS=1000 MANY_THREADS=10000 FORKS=1000 FLOOD=2000000 \
#     hack/bench-load.sh
#
# Scenarios (each workload runs with `docker exec` in a container that then sleeps, so the monitor
# is still there to be measured when the workload is done):
#   at-once   AT_ONCE containers started together, each reading /bin and /etc (max over monitors)
#   in-a-row  IN_A_ROW `docker run --rm` one after another (learn mode, one profile): time per run
#   exec      EXECS `docker exec` into one container
#   threads   one process starting THREADS threads, all alive at once (then MANY_THREADS)
#   forks     one process forking FORKS children, all alive at once
#   flood     FLOOD getppid calls in a tight loop (the densest syscall stream)
set -euo pipefail
cd "$(dirname "$0")/.."

AT_ONCE=${AT_ONCE:-20}
IN_A_ROW=${IN_A_ROW:-200}
EXECS=${EXECS:-1000}
THREADS=${THREADS:-1000}
MANY_THREADS=${MANY_THREADS:-10000}
FORKS=${FORKS:-1000}
FLOOD=${FLOOD:-2000000}

hack/setup.sh --deps >/dev/null
cargo build --release --locked -q -p ids-runc
ids_runc=$PWD/target/release/ids-runc

work=$(mktemp -d /tmp/ids-bench-load.XXXXXX)
state=$(mktemp -d /run/ids-bl.XXXXXX)
docker_cmd=/usr/bin/docker
[ -x "$docker_cmd" ] || docker_cmd=docker
docker() { "$docker_cmd" -H "unix://$work/docker.sock" "$@"; }
dockerd_pid=
cleanup() {
  set +e
  if [ -n "$dockerd_pid" ]; then
    for id in $(docker ps -aq 2>/dev/null); do docker rm -f "$id" >/dev/null 2>&1; done
    kill -TERM "$dockerd_pid" 2>/dev/null
    for _ in $(seq 300); do  # until it exits (a zombie: it is our child) or 30 s pass
      st=$(awk '{print $3}' "/proc/$dockerd_pid/stat" 2>/dev/null)
      { [ -z "$st" ] || [ "$st" = Z ]; } && break
      sleep 0.1
    done
    kill -KILL "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
    # Its containerd outlives it for a moment, and would recreate its exec dir after the rm.
    for _ in $(seq 100); do pgrep -f "containerd --config $work/" >/dev/null || break; sleep 0.1; done
  fi
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
  for _ in 1 2 3 4 5; do
    rm -rf "$work" "$state"
    sleep 1
    [ -e "$work" ] || [ -e "$state" ] || break
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$work/ids-runc.json" <<EOF
{"state_dir": "$state", "profile_dir": "$work/profiles", "events_path": "$work/events.jsonl",
 "runs_dir": "$work/runs"}
EOF
echo "{\"runtimes\": {\"ids-runc\": {\"path\": \"$ids_runc\"}}}" >"$work/daemon.json"
IDS_RUNC_CONFIG=$work/ids-runc.json dockerd --config-file "$work/daemon.json" --data-root "$work/data" \
  --exec-root "$work/exec" --pidfile "$work/dockerd.pid" -H "unix://$work/docker.sock" \
  --iptables=false --ip-masq=false --bridge=none --userland-proxy=false --log-level=warn \
  </dev/null >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 600); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
docker version >/dev/null

hack/test-bundle.sh "$work/bundle" sh >/dev/null
for p in threads forks getppid; do
  gcc -O2 -static -pthread -o "$work/bundle/rootfs/bin/$p" "hack/bench/$p.c"
done
tar -C "$work/bundle/rootfs" -c . | docker import -c 'CMD ["sh"]' - loadbox >/dev/null

run_flags=(--runtime=ids-runc -e IDS_RUNC_MODE=learn)
# A state dir is named <id>@<key of runc's root>. Under seccomp notify the recorded pid is the
# keeper; the monitor that serves the calls is its child.
monitor_of() {
  local keeper child
  keeper=$(cat "$state/$1"@*/monitor.pid)
  child=$(pgrep -P "$keeper" -f -- --keeper-fd | head -n 1 || true)
  echo "${child:-$keeper}"
}
# kB kB ms ms: VmHWM, VmRSS, user+system CPU and system CPU of a pid.
measure() {
  local pid=$1 hz
  hz=$(getconf CLK_TCK)
  awk '/^VmHWM:/ {h=$2} /^VmRSS:/ {r=$2} END {printf "%s %s ", h, r}' "/proc/$pid/status"
  awk -v hz="$hz" '{sub(/^.*\) /, ""); printf "%d %d\n", ($12 + $13) * 1000 / hz, $13 * 1000 / hz}' "/proc/$pid/stat"
}
rows=()
row() { rows+=("$(printf '%-28s %10s %10s %10s %10s  %s' "$@")"); }

# A container that sleeps, its monitor, and the monitor's fd count once it is running.
start_sleeper() {
  docker run -d "${run_flags[@]}" -e "IDS_RUNC_PROFILE=$1" loadbox sleep 3600
}

echo "== at-once: $AT_ONCE containers" >&2
ids=()
start=$(date +%s%N)
# `wait` on these pids only: a bare `wait` would wait for dockerd too.
pids=()
for i in $(seq "$AT_ONCE"); do start_sleeper "at-once-$i" >"$work/id.$i" & pids+=($!); done
wait "${pids[@]}"
for i in $(seq "$AT_ONCE"); do ids+=("$(cat "$work/id.$i")"); done
pids=()
for id in "${ids[@]}"; do docker exec "$id" sh -c 'ls -R /bin /etc >/dev/null' & pids+=($!); done
wait "${pids[@]}"
end=$(date +%s%N)
max_hwm=0 max_rss=0 max_cpu=0 sum_rss=0
for id in "${ids[@]}"; do
  read -r hwm rss cpu _ < <(measure "$(monitor_of "$id")")
  (( hwm > max_hwm )) && max_hwm=$hwm
  (( rss > max_rss )) && max_rss=$rss
  (( cpu > max_cpu )) && max_cpu=$cpu
  sum_rss=$((sum_rss + rss))
done
row "at-once ($AT_ONCE, max each)" "$max_hwm" "$max_rss" "$max_cpu" "$(( (end - start) / 1000000 ))" "sum of VmRSS ${sum_rss} kB"
docker rm -f "${ids[@]}" >/dev/null

echo "== in-a-row: $IN_A_ROW containers" >&2
dockerd_fds=$(ls "/proc/$dockerd_pid/fd" | wc -l)
start=$(date +%s%N)
for i in $(seq "$IN_A_ROW"); do
  docker run --rm "${run_flags[@]}" -e IDS_RUNC_PROFILE=in-a-row loadbox sh -c 'ls /bin >/dev/null' >/dev/null
done
end=$(date +%s%N)
sleep 1
left_monitors=$(pgrep -f "ids-runc monitor --state-dir $state" | wc -l || true)
left_dirs=$(find "$state" -mindepth 1 -maxdepth 1 | wc -l)
row "in-a-row ($IN_A_ROW)" - - - "$(( (end - start) / 1000000 ))" \
  "$(( (end - start) / 1000000 / IN_A_ROW )) ms/run; left: $left_monitors monitors, $left_dirs state dirs; dockerd fds $dockerd_fds -> $(ls "/proc/$dockerd_pid/fd" | wc -l)"

scenario() {  # name, then the command to exec in a fresh sleeper
  local name=$1 id mon fds_before start end
  shift
  echo "== $name" >&2
  id=$(start_sleeper "bench-$RANDOM")
  mon=$(monitor_of "$id")
  fds_before=$(ls "/proc/$mon/fd" | wc -l)
  start=$(date +%s%N)
  "$@" "$id"
  end=$(date +%s%N)
  read -r hwm rss cpu sys < <(measure "$mon")
  local streams
  streams=$(IDS_RUNC_CONFIG=$work/ids-runc.json "$ids_runc" inspect "$id" | jq -r '"\(.detector.calls) calls, \(.detector.streams) streams, \(.detector.database_size) bags"')
  row "$name" "$hwm" "$rss" "$cpu" "$(( (end - start) / 1000000 ))" \
    "$streams; ${sys} ms of it in the kernel; monitor fds $fds_before -> $(ls "/proc/$mon/fd" | wc -l), threads $(awk '/^Threads:/ {print $2}' "/proc/$mon/status")"
  docker rm -f "$id" >/dev/null
}
execs() { for _ in $(seq "$EXECS"); do docker exec "$1" true; done; }
threads() { docker exec "$1" threads "$THREADS" 100 >/dev/null; }
many_threads() { docker exec "$1" threads "$MANY_THREADS" 10 >/dev/null; }
forks() { docker exec "$1" forks "$FORKS" >/dev/null; }
flood() { docker exec "$1" getppid "$FLOOD" >/dev/null; }
idle() { sleep 1; }

scenario "idle (baseline)" idle
scenario "exec x$EXECS" execs
scenario "threads x$THREADS" threads
scenario "threads x$MANY_THREADS" many_threads
scenario "forks x$FORKS" forks
scenario "flood: $FLOOD getppid" flood

sleep 1
left_monitors=$(pgrep -f "ids-runc monitor --state-dir $state" | wc -l || true)
left_dirs=$(find "$state" -mindepth 1 -maxdepth 1 | wc -l)

printf '\n%-28s %10s %10s %10s %10s  %s\n' scenario "VmHWM kB" "VmRSS kB" "CPU ms" "wall ms" notes
printf '%s\n' "${rows[@]}"
echo "after all: $left_monitors monitors, $left_dirs state dirs left"
