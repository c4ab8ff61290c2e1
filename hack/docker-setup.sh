#!/usr/bin/env bash
# Register ids-runc with the host's dockerd and make sure a dockerd runs with it, plus a local
# `busybox` image (no image can be pulled here). Idempotent.
#   /etc/docker/daemon.json gets "runtimes": {"ids-runc": {"path": "/usr/local/bin/ids-runc"}}
#   (other keys are kept). A running dockerd reloads it on SIGHUP; if none runs, one is started
#   in the background with --iptables=false --bridge=none, logging to /var/log/ids-runc-dockerd.log.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=/usr/local/bin/ids-runc
[ -x "$bin" ] || { echo "docker-setup: $bin missing: run hack/setup.sh first" >&2; exit 1; }
docker=/usr/bin/docker
[ -x "$docker" ] || docker=docker

mkdir -p /etc/docker
conf=/etc/docker/daemon.json
current='{}'
if [ -s "$conf" ]; then
  current=$(jq . "$conf") || { echo "docker-setup: $conf is not valid JSON; fix it first" >&2; exit 1; }
fi
wanted=$(jq --arg bin "$bin" '.runtimes["ids-runc"] = {"path": $bin}' <<<"$current")
changed=0
if [ "$wanted" != "$current" ] || [ ! -s "$conf" ]; then
  printf '%s\n' "$wanted" >"$conf.tmp" && mv -f "$conf.tmp" "$conf"
  changed=1
fi

if $docker info >/dev/null 2>&1; then
  if [ "$changed" = 1 ]; then
    pkill -HUP -x dockerd || true
    sleep 1
  fi
else
  echo "docker-setup: starting dockerd (log: /var/log/ids-runc-dockerd.log)"
  setsid dockerd --iptables=false --ip-masq=false --bridge=none --userland-proxy=false \
    </dev/null >>/var/log/ids-runc-dockerd.log 2>&1 &
  for _ in $(seq 120); do $docker info >/dev/null 2>&1 && break; sleep 0.5; done
  $docker info >/dev/null 2>&1 || { echo "docker-setup: dockerd did not start; see /var/log/ids-runc-dockerd.log" >&2; tail -5 /var/log/ids-runc-dockerd.log >&2; exit 1; }
fi
$docker info --format '{{json .Runtimes}}' | grep -q '"ids-runc"' \
  || { echo "docker-setup: dockerd does not list the ids-runc runtime after reload" >&2; exit 1; }

if ! $docker image inspect busybox:latest >/dev/null 2>&1; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  hack/test-bundle.sh "$tmp/b" >/dev/null
  tar -C "$tmp/b/rootfs" -c . | $docker import -c 'CMD ["sh"]' - busybox:latest >/dev/null
  echo "docker-setup: imported busybox:latest"
fi
echo "docker-setup: dockerd runs with runtime ids-runc"
