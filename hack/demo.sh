#!/usr/bin/env bash
# The main job, from a fresh machine: install and build ids-runc, register it with docker, learn
# what a busybox "service" container normally does, then watch it in detection mode and catch a
# command it never ran: the container is killed (exit 137) and the event says why.
#
#   hack/demo.sh            everything (setup included)
#   DEMO_OUT=dir hack/demo.sh   where the report SVG goes (default: ./demo-out)
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh
hack/docker-setup.sh

docker=/usr/bin/docker
[ -x "$docker" ] || docker=docker
out=${DEMO_OUT:-demo-out}
mkdir -p "$out"
profile=demo-service
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# The service: a loop that lists a directory, reads a config file and writes a status line.
service='n=0; while [ $n -lt "$ROUNDS" ]; do ls /bin >/dev/null; cat /etc/passwd >/dev/null; echo "round $n" >/tmp/status; sleep 0.2; n=$((n+1)); done; echo finished'

step "docker run --rm --runtime=ids-runc busybox echo hi   (ids-runc as a drop-in runtime)"
$docker run --rm --runtime=ids-runc busybox echo hi

step "1. learn: three runs of the service with IDS_RUNC_MODE=learn, profile '$profile'"
rm -f "/var/lib/ids-runc/profiles/$profile.json"
for run in 1 2 3; do
  $docker run --rm --runtime=ids-runc -e ROUNDS=5 \
    -e IDS_RUNC_MODE=learn -e IDS_RUNC_PROFILE=$profile busybox sh -c "$service"
done
# sed, not head: it reads the whole listing, so ids-runc never dies of SIGPIPE under pipefail
ids-runc profile show "$profile" | sed -n 1,40p

step "2. detect: the service under IDS_RUNC_MODE=detect, IDS_RUNC_ACTION=kill"
$docker rm -f ids-demo >/dev/null 2>&1 || true
$docker run -d --name ids-demo --runtime=ids-runc -e ROUNDS=100 \
  -e IDS_RUNC_MODE=detect -e IDS_RUNC_PROFILE=$profile -e IDS_RUNC_ACTION=kill \
  busybox sh -c "$service" >/dev/null
id=$($docker inspect -f '{{.Id}}' ids-demo)
sleep 3
echo "after 3 s of normal work: status=$($docker inspect -f '{{.State.Status}}' ids-demo)"
ids-runc inspect "$id" | jq -c '{mode, profile, calls: .detector.calls, epochs: .detector.epochs, anomalies: .detector.anomalies, database_size: .detector.database_size}'

step "3. attack: a shell in the container reads /etc/shadow and opens a listening socket"
$docker exec ids-demo sh -c 'cat /etc/shadow; nc -l -p 4444' || true
sleep 1
code=$($docker inspect -f '{{.State.ExitCode}}' ids-demo)
echo "container status=$($docker inspect -f '{{.State.Status}}' ids-demo) exit code=$code"

step "4. what ids-runc recorded (ids-runc events $id)"
ids-runc events "${id:0:12}"

step "5. the anomaly report (ids-runc report)"
ids-runc report "$id" -o "$out/demo-report.svg"
$docker rm -f ids-demo >/dev/null

if [ "$code" = 137 ]; then
  echo; echo "demo: the anomalous container was caught and killed (exit 137)."
else
  echo; echo "demo: expected exit code 137, got $code" >&2
  exit 1
fi
