#!/usr/bin/env bash
# The main job, from a fresh machine: install, build, register ids-runc with docker, and run a
# container through it.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh
hack/docker-setup.sh
docker=/usr/bin/docker
[ -x "$docker" ] || docker=docker

echo "demo: docker run --rm --runtime=ids-runc busybox echo hi"
$docker run --rm --runtime=ids-runc busybox echo hi
