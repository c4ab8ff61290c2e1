//! Helpers for the end-to-end tests: bundles, a private dockerd, the ids-runc binary.
