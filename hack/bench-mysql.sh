#!/usr/bin/env bash
# The paper's experiment, reproduced with the product: MariaDB in a container under ids-runc (on a
# private dockerd), `mysqlslap` as the normal workload, `sqlmap` (direct connection) as the
# attacker. Prints a table of detection results and mysqlslap throughput, writes it with an SVG of
# the anomaly score to OUT, and copies the learned profiles to profiles/mysql/.
#
#   hack/bench-mysql.sh                      everything, from a fresh clone (root, Debian)
#   RUNS=3 hack/bench-mysql.sh               fewer throughput rounds
#
# Phases:
#   1. packages (hack/setup.sh --deps --bench-mysql), release build, a MariaDB image assembled from
#      the host's packages (hack/bench/mysql/image.sh) and `docker import`ed;
#   2. a private dockerd (own data-root, exec-root, socket, pidfile; ids-runc registered with its
#      own host config whose profile store, events file and runs dir are in OUT); stopped with every
#      container on exit, also on failure;
#   3. learn: for each detector setting (CONFIGS) a MariaDB container learns, under mysqlslap
#      sessions covering every concurrency × query mix once in a seeded order; in LIFETIMES (4)
#      container lifetimes, so that start-up and shut-down are learnt too;
#   4. detect (IDS_RUNC_ACTION=log), DETECT_RUNS (3) times with a fresh container each: fresh
#      mysqlslap sessions (another seed each run) alternate with the ten sqlmap sessions; every
#      session's start and end are recorded, every epoch of <runs_dir>/<id>.epochs.jsonl is
#      labelled attack (it overlaps an sqlmap session) or normal, and every unseen-resource and
#      unseen-syscall event is matched to the session it fell in;
#   5. throughput: mysqlslap under plain runc, the null monitor, notify detect, ptrace detect and
#      ebpf detect (the in-kernel monitor), interleaved, RUNS rounds; hack/bench/mysql/analyze.py prints the table and draws the SVG.
# The settings run side by side (one server each, the same session at the same time on every
# server), which keeps the whole run within about 20 minutes on 2 vCPUs.
#
# Environment: OUT (bench-results/mysql), SEED (7), RUNS (5), PORT (23306, the first of the ports
# used on 127.0.0.1), CONFIGS (see below), SLAP_QUERIES (20000, the throughput workload's queries),
# LIFETIMES (4, learning containers per setting), DETECT_RUNS (3), RECORD (0).
#
# RECORD=1 adds a server under plain runc whose system calls `strace -f -ttt` records while it
# learns and detects beside the others (OUT/traces/learn-N.strace, detect-R.strace). The detect traces
# are cut into one file per session (OUT/traces/normal/, OUT/traces/attack/) and
# `ids-runc profile sweep` sweeps window, epoch length E and time T (strace's -ttt times) and
# threshold over them: one row per setting in OUT/sweep-mysql.md (the back-off scorer's bound in
# OUT/sweep-mysql-backoff.md), each session judged as a server that falls quiet at its end. strace stops
# that server at every call and each session waits for every server, so the run takes longer; the
# live settings' figures are not comparable with a run without it.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

OUT=${OUT:-bench-results/mysql}
SEED=${SEED:-7}
RUNS=${RUNS:-5}
PORT=${PORT:-23306}
SLAP_QUERIES=${SLAP_QUERIES:-20000}
LIFETIMES=${LIFETIMES:-4}
# name:monitor:window:epoch:threshold:T — one learned profile each; threshold is a share of an
# epoch's windows with unknown bags (0.01: above 1%) or `backoffN` (the back-off scorer, anomalous
# above N nats per window); T is the epoch's time bound in ms (default 1000). `mysql` is the
# product's defaults (W=6, E=200, T=250 ms, above 1%: chosen by the RECORD=1 sweep, see the
# README); `mysql-paper` the paper's W=10, E=1000 (with T=1000 ms); `mysql-backoff` the back-off
# scorer at its default bound with the product's W, E and T; `mysql-ebpf` the defaults in the
# kernel (which ignores T). Other thresholds of the paper's rule are applied offline to the same runs.
CONFIGS=${CONFIGS:-"mysql:seccomp-notify:6:200:0.01:250 mysql-paper:seccomp-notify:10:1000:0.01:1000 mysql-backoff:seccomp-notify:6:200:backoff1.5:250 mysql-ebpf:ebpf:6:200:0.01:250"}
RECORD=${RECORD:-0}
DETECT_RUNS=${DETECT_RUNS:-3}
USER_PASS=app:app-secret
DB=shop
began=$(date +%s)

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

hack/setup.sh --deps --bench-mysql >&2
cargo build --release --locked -q -p ids-runc
ids_runc=$repo/target/release/ids-runc

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -rf "$OUT/profiles" "$OUT/runs" "$OUT/events.jsonl" "$OUT/sqlmap" "$OUT"/*.tsv "$OUT"/*.log
mkdir -p "$OUT/profiles" "$OUT/runs" "$OUT/sqlmap"
work=$(mktemp -d /tmp/ids-mysql.XXXXXX)
state=$(mktemp -d /run/ids-m.XXXXXX)
dockerd_pid=

docker_cli=/usr/bin/docker
[ -x "$docker_cli" ] || docker_cli=docker
dk() { "$docker_cli" -H "unix://$work/docker.sock" "$@"; }

cleanup() {
  local rc=$? pid
  set +e
  trap - EXIT INT TERM
  # sessions still running; dockerd last, after its containers
  for pid in $(jobs -p); do [ "$pid" = "$dockerd_pid" ] || kill "$pid" 2>/dev/null; done
  if [ -n "$dockerd_pid" ]; then
    ids=$(dk ps -aq 2>/dev/null)
    # shellcheck disable=SC2086
    [ -n "$ids" ] && dk rm -f $ids >/dev/null 2>&1
    kill -TERM "$dockerd_pid" 2>/dev/null
    for _ in $(seq 300); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
  fi
  # a daemon killed hard leaves overlay and shm mounts behind; deepest first
  awk -v d="$work/" 'index($5, d) == 1 {print length($5), $5}' /proc/self/mountinfo | sort -rn |
    cut -d' ' -f2- | while read -r m; do umount -l "$m"; done
  rm -rf "$work" "$state"
  [ "$rc" -ne 0 ] && echo "bench-mysql: failed (exit $rc); logs were in $OUT" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# host_config [window epoch ratio]: ids-runc's host config for this daemon, with the detector
# parameters that profiles learned from now on get.
host_config() {
  local params=
  if [ $# -eq 4 ]; then
    local scorer=
    # a threshold `backoffN` is the back-off scorer's bound (N nats per window); the paper's
    # ratio field is then kept at 1% and not used
    if [[ $3 == backoff* ]]; then scorer=", \"scorer\": {\"backoff\": {\"surprise\": ${3#backoff}}}"; set -- "$1" "$2" 0.01 "$4"; fi
    params=$(printf ', "parameters": {"window": %s, "epoch": %s, "threshold": {"ratio": %s}, "epoch_ms": %s%s, "stream": "per-thread", "training": {"convergence_similarity": 0.99, "convergence_epochs": 5, "continuous": false}}' "$@" "$scorer")
  fi
  cat >"$work/ids-runc.json" <<EOF
{"state_dir": "$state", "profile_dir": "$OUT/profiles", "events_path": "$OUT/events.jsonl",
 "runs_dir": "$OUT/runs", "runtime": "$(command -v runc)", "save_interval_secs": 10$params}
EOF
}

log "MariaDB image from the host's packages"
hack/bench/mysql/image.sh "$work/image" >/dev/null
host_config
printf '{"runtimes": {"ids-runc": {"path": "%s"}}}\n' "$ids_runc" >"$work/daemon.json"
IDS_RUNC_CONFIG=$work/ids-runc.json dockerd --config-file "$work/daemon.json" \
  --data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
  -H "unix://$work/docker.sock" --iptables=false --ip-masq=false --bridge=none \
  --userland-proxy=false --log-level=warn </dev/null >"$OUT/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 600); do dk version >/dev/null 2>&1 && break; sleep 0.1; done
dk version >/dev/null
tar -C "$work/image/rootfs" -c . | dk import -c 'CMD ["mariadbd"]' - ids-mariadb >/dev/null
rm -rf "$work/image"

# server NAME PORT RUNTIME [docker run options...]: starts MariaDB and waits until it answers.
server() {
  local name=$1 port=$2 runtime=$3
  shift 3
  dk rm -f "$name" >/dev/null 2>&1 || true
  dk run -d --name "$name" --runtime "$runtime" --network host --tmpfs /run/mysqld --tmpfs /tmp \
    "$@" ids-mariadb mariadbd --no-defaults --user=root --datadir=/var/lib/mysql \
    --bind-address=127.0.0.1 --port="$port" --socket=/run/mysqld/mysqld.sock \
    --pid-file=/run/mysqld/mysqld.pid --skip-name-resolve --max-connections=500 >/dev/null
  for _ in $(seq 600); do
    mariadb-admin --protocol=tcp -h127.0.0.1 -P"$port" -u"${USER_PASS%%:*}" -p"${USER_PASS#*:}" \
      ping >/dev/null 2>&1 && return 0
    [ "$(dk inspect -f '{{.State.Running}}' "$name")" = true ] || break
    sleep 0.1
  done
  echo "bench-mysql: server $name did not come up:" >&2
  dk logs "$name" 2>&1 | tail -20 >&2
  return 1
}

# stop NAME: a clean shutdown (the monitor saves a learned profile when the container ends).
stop() {
  dk stop -t 60 "$1" >/dev/null
  dk rm "$1" >/dev/null
}

now_ms() { date +%s%3N; }

# slap PORT CONCURRENCY MIX QUERIES: one mysqlslap session.
slap() {
  local port=$1 conc=$2 mix=$3 queries=$4
  local args=(--protocol=tcp -h127.0.0.1 -P"$port" -u"${USER_PASS%%:*}" -p"${USER_PASS#*:}"
    --concurrency="$conc" --iterations=1 --number-of-queries="$queries")
  if [ "$mix" = shop ]; then
    args+=(--create-schema="$DB" --no-drop --delimiter=';' --query="SELECT name, email FROM customers WHERE id = FLOOR(1 + RAND() * 500);SELECT COUNT(*), SUM(amount) FROM orders WHERE customer_id = FLOOR(1 + RAND() * 500);INSERT INTO orders (customer_id, item, amount) VALUES (FLOOR(1 + RAND() * 500), 'slap', 9.99);UPDATE customers SET email = email WHERE id = FLOOR(1 + RAND() * 500)")
  else
    args+=(--create-schema="slap$port" --auto-generate-sql --auto-generate-sql-add-autoincrement --auto-generate-sql-load-type="$mix")
  fi
  mysqlslap "${args[@]}" 2>&1
}

# attack PORT N: sqlmap session N (direct connection), one enumeration or theft step each.
attacks=("--users" "--passwords" "--privileges" "--dbs" "--tables -D $DB" "--dump -D $DB -T customers"
  "--file-read=/etc/passwd" "--schema -D $DB" "--count -D $DB" "--banner --current-user --hostname --is-dba")
attack() {
  local port=$1 n=$2
  # shellcheck disable=SC2086
  sqlmap -d "mysql://$USER_PASS@127.0.0.1:$port/$DB" --batch --answers="crack=N,dictionary=N" \
    --output-dir="$OUT/sqlmap/$port" --flush-session ${attacks[$n]} 2>&1
}

# The learning schedule: every concurrency × mix once, shuffled by SEED; the query count drawn too.
# The detection schedule draws from the same distributions with another seed.
mixes="mixed read write key update shop"
concurrencies="1 2 4 8 16"
schedule() { # SEED ALL|N
  awk -v seed="$1" -v n="$2" -v mixes="$mixes" -v concs="$concurrencies" 'BEGIN {
    srand(seed); nm = split(mixes, M); nc = split(concs, C); split("2000 5000 10000", Q)
    if (n == "all") { for (i = 1; i <= nm; i++) for (j = 1; j <= nc; j++) L[++k] = C[j] " " M[i] }
    else { for (k = 0; k < n;) L[++k] = C[1 + int(rand() * nc)] " " M[1 + int(rand() * nm)] }
    for (i = k; i > 1; i--) { j = 1 + int(rand() * i); t = L[i]; L[i] = L[j]; L[j] = t }
    for (i = 1; i <= k; i++) print L[i], Q[1 + int(rand() * 3)] }'
}

# The settings to run: a ptrace setting only if this ids-runc has the ptrace monitor.
ptrace_note=
probe=$(dk run --rm --runtime ids-runc -e IDS_RUNC_MODE=null -e IDS_RUNC_MONITOR=ptrace \
  ids-mariadb sh -c true 2>&1) && ptrace=yes || ptrace=no
if [ "$ptrace" = no ]; then
  ptrace_note=$(printf '%s' "$probe" | tr '\n' ' ' | sed 's/.*\(ptrace monitor[^.:"]*\).*/\1/')
  log "ptrace monitor unavailable: $ptrace_note"
fi
configs=()
for c in $CONFIGS; do
  IFS=: read -r name monitor window epoch threshold epoch_ms <<<"$c"
  [ "$monitor" = ptrace ] && [ "$ptrace" = no ] && continue
  configs+=("$name:$monitor:$window:$epoch:$threshold:${epoch_ms:-1000}")
done
printf '%s\n' "${configs[@]}" | tr : '\t' >"$OUT/configs.tsv"
echo "$ptrace" >"$OUT/ptrace-available"
if [ "$RECORD" = 1 ]; then
  rm -rf "$OUT/traces"
  mkdir -p "$OUT/traces/normal" "$OUT/traces/attack"
  # After configs.tsv: the table has no row for it. Its sessions are in sessions.tsv as `record`.
  configs+=("record:strace:-:-:-:-")
fi

# record_server CONTAINER PORT TRACE: MariaDB under runc, every thread traced into OUT/traces/TRACE.strace
# until the container stops.
record_server() {
  server "$1" "$2" runc
  strace -f -ttt -qq -o "$OUT/traces/$3.strace" -p "$(dk inspect -f '{{.State.Pid}}' "$1")" \
    2>>"$OUT/strace.log" &
}

# epoch_ms_of NAME: the setting's time bound T.
epoch_ms_of() {
  local c
  for c in "${configs[@]}"; do [ "${c%%:*}" = "$1" ] && echo "${c##*:}"; done
}

# each_config FUNCTION ARGS...: FUNCTION name monitor window epoch ratio port ARGS..., for every
# setting at once; fails if one fails.
each_config() {
  local fn=$1 i=0 c pids=() rc=0
  shift
  for c in "${configs[@]}"; do
    IFS=: read -r name monitor window epoch ratio _ <<<"$c"
    "$fn" "$name" "$monitor" "$window" "$epoch" "$ratio" $((PORT + i)) "$@" &
    pids+=($!)
    i=$((i + 1))
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}

start_learn() { # name monitor window epoch ratio port lifetime
  if [ "$2" = strace ]; then record_server "learn-$1" "$6" "learn-$7"; return; fi
  host_config "$3" "$4" "$5" "$(epoch_ms_of "$1")"
  server "learn-$1" "$6" ids-runc -e IDS_RUNC_MODE=learn -e "IDS_RUNC_PROFILE=$1" -e "IDS_RUNC_MONITOR=$2"
  printf '%s\tlearn\t%s\n' "$1" "$(dk inspect -f '{{.Id}}' "learn-$1")" >>"$OUT/containers.tsv"
}
start_detect() { # name monitor window epoch ratio port run
  if [ "$2" = strace ]; then record_server "detect-$1" "$6" "detect-$7"; return; fi
  server "detect-$1" "$6" ids-runc -e IDS_RUNC_MODE=detect -e "IDS_RUNC_PROFILE=$1" \
    -e "IDS_RUNC_MONITOR=$2" -e IDS_RUNC_ACTION=log
  printf '%s\tdetect-%s\t%s\n' "$1" "$7" "$(dk inspect -f '{{.Id}}' "detect-$1")" >>"$OUT/containers.tsv"
}
# session name monitor window epoch ratio port phase kind what...: one session against one server,
# its start and end recorded.
session() {
  local name=$1 port=$6 phase=$7 kind=$8 start end
  shift 8
  start=$(now_ms)
  if [ "$kind" = attack ]; then
    attack "$port" "$1" >>"$OUT/sqlmap-$name.log" || { echo "bench-mysql: sqlmap failed" >&2; return 1; }
    set -- "sqlmap ${attacks[$1]}"
  else
    slap "$port" "$@" >>"$OUT/slap-$name.log" || { echo "bench-mysql: mysqlslap failed" >&2; return 1; }
    set -- "mysqlslap c=$1 $2 q=$3"
  fi
  end=$(now_ms)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$phase" "$kind" "$start" "$end" "$1" >>"$OUT/sessions.tsv"
}

# Containers start one after the other (each reads the host config with its own parameters).
start_each() {
  local i=0 c
  for c in "${configs[@]}"; do
    IFS=: read -r name monitor window epoch ratio _ <<<"$c"
    "$1" "$name" "$monitor" "$window" "$epoch" "$ratio" $((PORT + i)) "${@:2}"
    i=$((i + 1))
  done
}
stop_each() { for c in "${configs[@]}"; do stop "$1-${c%%:*}"; done; }

for lifetime in $(seq "$LIFETIMES"); do
  log "learn ($lifetime/$LIFETIMES): ${#configs[@]} settings side by side, mysqlslap over every concurrency x mix"
  start_each start_learn "$lifetime"
  sleep 2
  while read -r conc mix queries; do
    each_config session learn normal "$conc" "$mix" "$queries"
    sleep 0.5
  done < <(schedule $((SEED + lifetime)) all)
  sleep 2
  stop_each learn
done
host_config
mkdir -p profiles/mysql
for c in "${configs[@]}"; do
  name=${c%%:*}
  [ "$name" = record ] && continue
  cp "$OUT/profiles/$name.json" "profiles/mysql/$name.json"
  jq -c --arg n "$name" '{profile: $n, bags: (.normal_db | length), syscalls: (.syscalls | length),
    epochs: .training.epochs, converged_at_epoch: .training.converged_at_epoch,
    last_similarity: .training.last_similarity}' "profiles/mysql/$name.json" >&2
done

for run in $(seq "$DETECT_RUNS"); do
  log "detect ($run/$DETECT_RUNS): fresh mysqlslap sessions alternating with sqlmap sessions (${#attacks[@]} attacks)"
  start_each start_detect "$run"
  sleep 3
  normal=$(schedule $((SEED + 100 * run)) $((2 * ${#attacks[@]})))
  for n in $(seq 0 $((${#attacks[@]} - 1))); do
    for k in 1 2; do
      read -r conc mix queries <<<"$(sed -n "$((2 * n + k))p" <<<"$normal")"
      each_config session "detect-$run" normal "$conc" "$mix" "$queries"
      sleep 1
    done
    log "attack $((n + 1))/${#attacks[@]}: sqlmap ${attacks[$n]}"
    each_config session "detect-$run" attack "$n"
    sleep 1
  done
  read -r conc mix queries <<<"$(tail -1 <<<"$normal")"
  each_config session "detect-$run" normal "$conc" "$mix" "$queries"
  sleep 2
  stop_each detect
done

if [ "$RECORD" = 1 ]; then
  log "sweep over the recorded traces: trained on the learning lifetimes, one trace per detect session"
  wait_traces=$(jobs -p)
  # The strace of a stopped container ends by itself; dockerd is the only other job.
  for pid in $wait_traces; do [ "$pid" = "$dockerd_pid" ] || wait "$pid" || true; done
  for run in $(seq "$DETECT_RUNS"); do
    awk -F'\t' -v dir="$OUT/traces" -v run="$run" '
      FNR == NR { if ($1 == "record" && $2 == "detect-" run) { n++; s[n] = $4 / 1000; e[n] = $5 / 1000; k[n] = $3 } next }
      { for (i = 1; i <= n; i++) if ($2 >= s[i] && $2 <= e[i]) { print > (dir "/" k[i] "/" run "-" i ".strace"); break } }
    ' "$OUT/sessions.tsv" FS=' ' "$OUT/traces/detect-$run.strace"
  done
  train=()
  for t in "$OUT"/traces/learn-*.strace; do train+=(--train "$t"); done
  "$ids_runc" profile sweep --format strace "${train[@]}" \
    --normal "$OUT/traces/normal" --attack "$OUT/traces/attack" \
    --windows 6,8,10,12 --epochs 200,500,1000 --times 250,500,1000,2000 \
    --ratios 0,0.001,0.005,0.01,0.02 | tee "$OUT/sweep-mysql.md"
  # The live back-off scorer over the same traces: anomalous above a mean surprisal per window.
  "$ids_runc" profile sweep --format strace "${train[@]}" \
    --normal "$OUT/traces/normal" --attack "$OUT/traces/attack" \
    --windows 10 --epochs 200,1000 --times 250,500,1000 \
    --surprises 0.5,1,1.5,2,3 | tee "$OUT/sweep-mysql-backoff.md"
fi

log "throughput: mysqlslap mixed, $SLAP_QUERIES queries, concurrency 8; $RUNS rounds, modes interleaved"
# detect under each monitor with the first profile learnt through it
profile_of() {
  local c name monitor
  for c in "${configs[@]}"; do
    IFS=: read -r name monitor _ <<<"$c"
    if [ "$monitor" = "$1" ]; then echo "$name"; return 0; fi
  done
}
notify_profile=$(profile_of seccomp-notify)
ptrace_profile=$(profile_of ptrace)
ebpf_profile=$(profile_of ebpf)
modes=(runc null)
server tp-runc $((PORT + 10)) runc
server tp-null $((PORT + 11)) ids-runc -e IDS_RUNC_MODE=null
if [ -n "$notify_profile" ]; then
  modes+=(notify)
  server tp-notify $((PORT + 12)) ids-runc -e IDS_RUNC_MODE=detect -e "IDS_RUNC_PROFILE=$notify_profile" \
    -e IDS_RUNC_ACTION=log
fi
if [ -n "$ptrace_profile" ]; then
  modes+=(ptrace)
  server tp-ptrace $((PORT + 13)) ids-runc -e IDS_RUNC_MODE=detect -e "IDS_RUNC_PROFILE=$ptrace_profile" \
    -e IDS_RUNC_MONITOR=ptrace -e IDS_RUNC_ACTION=log
fi
if [ -n "$ebpf_profile" ]; then
  modes+=(ebpf)
  server tp-ebpf $((PORT + 14)) ids-runc -e IDS_RUNC_MODE=detect -e "IDS_RUNC_PROFILE=$ebpf_profile" \
    -e IDS_RUNC_MONITOR=ebpf -e IDS_RUNC_ACTION=log
fi
declare -A tp_port=([runc]=$((PORT + 10)) [null]=$((PORT + 11)) [notify]=$((PORT + 12)) [ptrace]=$((PORT + 13))
  [ebpf]=$((PORT + 14)))
for mode in "${modes[@]}"; do slap "${tp_port[$mode]}" 8 mixed 2000 >/dev/null; done # warm-up
for round in $(seq "$RUNS"); do
  for mode in "${modes[@]}"; do
    s=$(slap "${tp_port[$mode]}" 8 mixed "$SLAP_QUERIES" |
      awk '/Average number of seconds to run all queries/ {print $(NF-1)}')
    printf '%s\t%s\t%s\n' "$mode" "$round" "$s" >>"$OUT/throughput.tsv"
  done
  echo "bench-mysql: throughput round $round/$RUNS done" >&2
done
for mode in "${modes[@]}"; do stop "tp-$mode"; done

elapsed=$(($(date +%s) - began))
python3 hack/bench/mysql/analyze.py "$OUT" --queries "$SLAP_QUERIES" --elapsed "$elapsed" \
  --ptrace-note "$ptrace_note" | tee "$OUT/table.md"
echo "bench-mysql: done in ${elapsed} s; table $OUT/table.md, plot $OUT/mysql-score.svg, profiles profiles/mysql/" >&2
