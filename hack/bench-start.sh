#!/usr/bin/env bash
# What ids-runc adds to starting a container: `docker run --rm <runtime> busybox true`, median of
# N (default 10) runs each, alternating runtimes in one run: runc, ids-runc unmonitored (pass-through),
# ids-runc with the null monitor and with the learning monitor, and the in-kernel (ebpf) monitor
# learning and detecting (its program loaded once, by the warm-up, as on a host that has run an ebpf
# container since boot).
#   hack/bench-start.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10}
hack/setup.sh >/dev/null
hack/docker-setup.sh >/dev/null
docker=/usr/bin/docker
[ -x "$docker" ] || docker=docker

declare -A samples
cases=(runc ids-runc ids-runc-null ids-runc-learn ebpf-learn ebpf-detect)
args_of() {
  case $1 in
    runc) echo "--runtime=runc" ;;
    ids-runc) echo "--runtime=ids-runc" ;;
    ids-runc-null) echo "--runtime=ids-runc -e IDS_RUNC_MODE=null" ;;
    ids-runc-learn) echo "--runtime=ids-runc -e IDS_RUNC_MODE=learn -e IDS_RUNC_PROFILE=bench-start" ;;
    ebpf-learn) echo "--runtime=ids-runc -e IDS_RUNC_MODE=learn -e IDS_RUNC_MONITOR=ebpf -e IDS_RUNC_PROFILE=bench-start-ebpf-learn" ;;
    ebpf-detect) echo "--runtime=ids-runc -e IDS_RUNC_MODE=detect -e IDS_RUNC_MONITOR=ebpf -e IDS_RUNC_PROFILE=bench-start-ebpf -e IDS_RUNC_ACTION=log" ;;
  esac
}
rm -f /var/lib/ids-runc/profiles/bench-start{,-ebpf,-ebpf-learn}.json
$docker run --rm busybox true  # warm up the image and the daemon
# the profile ebpf-detect runs with (this also loads the kernel program): `true` alone makes too
# few calls for a window, so a little more is learnt; the monitor saves as the container ends
$docker run --rm --runtime=ids-runc -e IDS_RUNC_MODE=learn -e IDS_RUNC_MONITOR=ebpf \
  -e IDS_RUNC_PROFILE=bench-start-ebpf busybox sh -c 'ls / >/dev/null'
for _ in $(seq 100); do [ -e /var/lib/ids-runc/profiles/bench-start-ebpf.json ] && break; sleep 0.1; done
for _ in $(seq "$n"); do
  for c in "${cases[@]}"; do
    # shellcheck disable=SC2046
    start=$(date +%s%N); $docker run --rm $(args_of "$c") busybox true; end=$(date +%s%N)
    samples[$c]+="$(( (end - start) / 1000 )) "
  done
done
rm -f /var/lib/ids-runc/profiles/bench-start{,-ebpf,-ebpf-learn}.json
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
base=$(median <<<"${samples[runc]}")
printf '%-16s %12s %12s\n' runtime "median ms" "added ms"
for c in "${cases[@]}"; do
  m=$(median <<<"${samples[$c]}")
  awk -v c="$c" -v m="$m" -v b="$base" 'BEGIN {printf "%-16s %12.1f %12.1f\n", c, m / 1000, (m - b) / 1000}'
done
