#!/usr/bin/env bash
# The test suite: installs what it needs (hack/setup.sh --deps), checks format and lints, then runs
# every test: unit tests, the runc pass-through tests, and the end-to-end tests against runc,
# dockerd and containerd (root needed). Each end-to-end test starts and stops its own dockerd.
set -euo pipefail
cd "$(dirname "$0")/.."

hack/setup.sh --deps
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

# A test process killed hard cannot run its destructors: stop any private dockerd it left.
cleanup() {
  pkill -TERM -f 'dockerd --config-file /tmp/ids-dockerd-' 2>/dev/null || true
}
trap cleanup EXIT
cargo build --workspace --locked
cargo test --workspace --locked -- --test-threads=2
