#!/usr/bin/env bash
# Make an OCI bundle with a busybox rootfs: hack/test-bundle.sh DIR [CMD...]
# DIR/rootfs holds busybox-static and one symlink per applet; DIR/config.json is `runc spec` with the
# process args set to CMD (default: sh), no terminal, and a writable rootfs.
set -euo pipefail

usage() { echo "usage: $0 DIR [CMD...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
dir=$1; shift
[ $# -ge 1 ] || set -- sh

busybox=$(command -v busybox || true)
[ -n "$busybox" ] || { echo "$0: busybox not found (install busybox-static: hack/setup.sh)" >&2; exit 1; }
case "$(ldd "$busybox" 2>&1 || true)" in *'not a dynamic'*) ;; *) echo "$0: $busybox is not statically linked (install busybox-static)" >&2; exit 1 ;; esac
runc=${IDS_RUNC_RUNTIME:-$(command -v runc || true)}
[ -n "$runc" ] || { echo "$0: runc not found (hack/setup.sh installs it)" >&2; exit 1; }
command -v jq >/dev/null || { echo "$0: jq not found (hack/setup.sh installs it)" >&2; exit 1; }

mkdir -p "$dir/rootfs"
rootfs=$(cd "$dir/rootfs" && pwd)
mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp,root,run}
install -m 0755 "$busybox" "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
ln -sfn bin "$rootfs/sbin"
mkdir -p "$rootfs/usr"; ln -sfn ../bin "$rootfs/usr/bin"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
printf 'root:*:19000:0:99999:7:::\n' >"$rootfs/etc/shadow"; chmod 0640 "$rootfs/etc/shadow"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && "$runc" spec)
args=$(printf '%s\n' "$@" | jq -R . | jq -s .)
jq --argjson args "$args" \
  '.process.args = $args | .process.terminal = false | .root.readonly = false | .hostname = "ids-test"' \
  "$tmp/config.json" >"$dir/config.json.tmp"
mv "$dir/config.json.tmp" "$dir/config.json"
