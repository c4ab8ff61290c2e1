#!/usr/bin/env bash
# runc's own integration suite (the bats tests of the installed runc's source package, prepared by
# `hack/setup.sh --runc-suite`), run against runc and against ids-runc standing in for it:
#   runc    the real runc: the baseline
#   off     ids-runc with nothing monitored (what a container that asks for nothing gets)
#   learn   ids-runc with every container learning (a private host config with mandatory mode learn)
# A test whose outcome under ids-runc differs from runc's is a regression, and the script fails.
# After each ids-runc pass no monitor of that pass may be alive and its state dir must be empty.
#
#   hack/runc-suite.sh [--ids-runc PATH] [--filter REGEX] [PASS...]   (default: runc off learn)
#
# Results go to target/runc-suite/results/PASS.tap; a pass without `runc` compares against the
# runc.tap an earlier run left there. Tests this machine cannot run (criu, rootless, systemd,
# cgroup v2 only) skip themselves. Needs root and a controlling tty, which `script` provides.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C # sort and join must agree on the order of test names
suite=$PWD/target/runc-suite
results=$suite/results

usage() { echo "usage: $0 [--ids-runc PATH] [--filter REGEX] [runc|off|learn ...]" >&2; exit 2; }
ids_runc=$PWD/target/debug/ids-runc
filter=()
passes=()
while [ $# -gt 0 ]; do
  case $1 in
    --ids-runc) [ $# -ge 2 ] || usage; ids_runc=$(realpath "$2"); shift 2 ;;
    --filter) [ $# -ge 2 ] || usage; filter=(--filter "$2"); shift 2 ;;
    runc | off | learn) passes+=("$1"); shift ;;
    *) usage ;;
  esac
done
[ ${#passes[@]} -gt 0 ] || passes=(runc off learn)

[ -d "$suite/src/tests/integration" ] || { echo "$0: runc's suite is not prepared: run hack/setup.sh --runc-suite" >&2; exit 1; }
real_runc=$(command -v runc || true)
[ -n "$real_runc" ] || { echo "$0: runc not found on PATH" >&2; exit 1; }
mkdir -p "$results"

work=$(mktemp -d /tmp/ids-runc-suite.XXXXXX)
trap 'rm -rf "$work"' EXIT

# One pass: bats over the whole suite under `script` (runc's CI does the same: several tests need a
# controlling tty). TAP lines come through the tty with CRLF endings.
run_pass() { # PASS RUNTIME [ENV...]
  local pass=$1 runtime=$2; shift 2
  echo "== runc suite: $pass ($runtime)"
  local cmd
  cmd=$(printf '%q ' env "$@" RUNC="$runtime" bats --tap "${filter[@]}" "$suite/src/tests/integration")
  script -qec "$cmd" /dev/null | tr -d '\r' >"$work/$pass.tap" || true
  mv "$work/$pass.tap" "$results/$pass.tap"
}

# name<TAB>ok|failed|skipped, one line per test; a name seen twice gets #2.
outcomes() {
  awk '
    /^(not )?ok [0-9]+ / {
      outcome = /^not ok/ ? "failed" : (/ # skip/ ? "skipped" : "ok")
      name = $0; sub(/^(not )?ok [0-9]+ /, "", name); sub(/ # skip.*$/, "", name)
      if (++seen[name] > 1) name = name " #" seen[name]
      print name "\t" outcome
    }' "$1"
}

counts() { # PASS
  outcomes "$results/$1.tap" | awk -F'\t' -v pass="$1" '
    { n[$2]++; total++ }
    END { printf "%-6s %d tests: %d ok, %d failed, %d skipped\n", pass, total, n["ok"], n["failed"], n["skipped"] }'
}

# No monitor of an ids-runc pass may outlive it, and its state dir must be left empty.
check_leftovers() { # PASS STATE_DIR
  local pass=$1 state=$2 pids left
  pids=$(pgrep -f -- "monitor --state-dir $state/" || true)
  left=$(find "$state" -mindepth 1 -maxdepth 1 2>/dev/null || true)
  if [ -n "$pids" ] || [ -n "$left" ]; then
    echo "$pass: left behind: monitors ${pids:-none}; state ${left:-none}" >&2
    # shellcheck disable=SC2086 # one pid per word
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
    return 1
  fi
}

status=0
for pass in "${passes[@]}"; do
  case $pass in
    runc) run_pass runc "$real_runc" ;;
    off | learn)
      [ -x "$ids_runc" ] || { echo "$0: $ids_runc not built (cargo build -p ids-runc)" >&2; exit 1; }
      dir=$work/$pass
      mkdir -p "$dir"
      mode=off
      [ $pass = learn ] && mode=learn
      # mandatory, not default_mode: a profile learnt earlier in the pass under the same container
      # id would otherwise put that container in detect mode.
      jq -n --arg d "$dir" --arg mode $mode --arg runc "$real_runc" '{
        runtime: $runc, mandatory: { mode: $mode }, state_dir: ($d + "/state"),
        profile_dir: ($d + "/profiles"), events_path: ($d + "/events.jsonl"), runs_dir: ($d + "/runs")
      }' >"$dir/config.json"
      run_pass "$pass" "$ids_runc" IDS_RUNC_CONFIG="$dir/config.json"
      check_leftovers "$pass" "$dir/state" || status=1
      # Every monitor leaves a final record in the runs dir, one per container id (the suite
      # reuses ids: test_busybox is most of them).
      echo "$pass: monitors ran for $(find "$dir/runs" -name '*.final.json' 2>/dev/null | wc -l) container ids"
      if [ -s "$dir/events.jsonl" ]; then
        cp "$dir/events.jsonl" "$results/$pass.events.jsonl"
        echo "$pass: $(wc -l <"$dir/events.jsonl") events, in $results/$pass.events.jsonl"
      fi
      ;;
  esac
done

echo "== runc suite: counts"
for pass in runc off learn; do
  [ -f "$results/$pass.tap" ] && counts $pass
done
if [ ! -f "$results/runc.tap" ]; then
  echo "$0: no runc baseline in $results/runc.tap to compare with" >&2
  exit 1
fi
outcomes "$results/runc.tap" | sort >"$work/runc.outcomes"
for pass in "${passes[@]}"; do
  [ $pass = runc ] && continue
  outcomes "$results/$pass.tap" | sort >"$work/$pass.outcomes"
  # Regressions: tests whose outcome differs from runc's (a test missing from either side counts).
  diff=$(join -t $'\t' -a1 -a2 -e missing -o 0,1.2,2.2 "$work/runc.outcomes" "$work/$pass.outcomes" \
    | awk -F'\t' '$2 != $3 { print "  " $1 ": runc " $2 ", ids-runc " $3 }')
  if [ -n "$diff" ]; then
    echo "$pass: outcomes that differ from runc's (details in $results/$pass.tap):" >&2
    echo "$diff" >&2
    status=1
  else
    echo "$pass: same outcome as runc for every test"
  fi
done
exit $status
