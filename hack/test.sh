#!/usr/bin/env bash
# The test suite: installs what it needs (hack/setup.sh --deps --runc-suite), checks format and
# lints, then runs every test: unit tests, the runc pass-through tests, the end-to-end tests against
# runc, dockerd, containerd and podman (root needed; each starts and stops its own dockerd or
# podman), and runc's own integration suite against runc and ids-runc (hack/runc-suite.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

hack/setup.sh --deps --runc-suite
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

# A test process killed hard cannot run its destructors: stop any private dockerd it left.
cleanup() {
  pkill -TERM -f 'dockerd --config-file /tmp/ids-dockerd-' 2>/dev/null || true
}
trap cleanup EXIT
cargo build --workspace --locked
cargo test --workspace --locked -- --test-threads=2
hack/runc-suite.sh
