#!/usr/bin/env bash
# Benchmarks the detectors on ADFA-LD: trains on Training_Data_Master, scores the attack traces
# against the held-out normal traces (Validation_Data_Master) and prints one row per detector:
# ROC AUC and detection rate at 1% and 5% false positives, one score per trace; then sweeps the
# live detector's window, epoch length and threshold (`ids-runc profile sweep`), and the live
# back-off scorer's bound.
#
# Usage: hack/bench-adfa.sh path/to/ADFA-LD.zip   (or ADFA_LD_ZIP=path/to/ADFA-LD.zip)
#
# ADFA-LD, the Linux dataset of UNSW Canberra's ADFA IDS datasets (Creech & Hu, 2013), is not in
# this repository: its licence allows research use only. It is published at
# https://research.unsw.edu.au/projects/adfa-ids-datasets; the zip holds ADFA-LD/ with the three
# folders below, each trace one process's calls as i386 syscall numbers.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
zip=${1:-${ADFA_LD_ZIP:-}}
if [ -z "$zip" ]; then
    cat >&2 <<'USAGE'
usage: hack/bench-adfa.sh path/to/ADFA-LD.zip   (or set ADFA_LD_ZIP)
ADFA-LD is published by UNSW Canberra at https://research.unsw.edu.au/projects/adfa-ids-datasets
(research use only); download ADFA-LD.zip from there.
USAGE
    exit 2
fi
[ -f "$zip" ] || { echo "bench-adfa: no dataset at $zip" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unzip -q "$zip" -d "$tmp"
data=$tmp/ADFA-LD
for dir in Training_Data_Master Validation_Data_Master Attack_Data_Master; do
    [ -d "$data/$dir" ] || { echo "bench-adfa: $zip has no ADFA-LD/$dir" >&2; exit 1; }
done

cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p ids-runc
bin=$root/target/release/ids-runc
adfa=(--format adfa --arch x86)

echo "== The paper's detector through a profile (train, then eval), W=10, one interleaved stream"
"$bin" profile train "${adfa[@]}" --window 10 --stream per-container --name adfa-ld \
    -o "$tmp/adfa-ld.json" "$data/Training_Data_Master"
"$bin" profile eval "${adfa[@]}" "$tmp/adfa-ld.json" \
    --normal "$data/Validation_Data_Master" --attack "$data/Attack_Data_Master"
echo

echo "== The live back-off scorer through a profile (train, then eval), W=10"
"$bin" profile train "${adfa[@]}" --window 10 --stream per-container --scorer backoff \
    --name adfa-ld-backoff -o "$tmp/adfa-ld-backoff.json" "$data/Training_Data_Master"
"$bin" profile eval "${adfa[@]}" "$tmp/adfa-ld-backoff.json" \
    --normal "$data/Validation_Data_Master" --attack "$data/Attack_Data_Master"
echo

echo "== Detectors compared on the same traces"
"$bin" profile compare "${adfa[@]}" \
    --train "$data/Training_Data_Master" \
    --normal "$data/Validation_Data_Master" \
    --attack "$data/Attack_Data_Master" \
    --detector bosc:6 \
    --detector bosc:10 \
    --detector bosc:30 \
    --detector stide:6 \
    --detector stide:10 \
    --detector bosc-rarity:10 \
    --detector bosc-near:10 \
    --detector bosc-mix:5+15+30 \
    --detector bosc-backoff:10/5/3/1/0 \
    --detector bosc-backoff:30/15/8/4/2/1/0 \
    --detector bosc-backoff-last:30/15/8/4/2/1/0 \
    --detector bosc-backoff-live:10
echo

echo "== The live detector's parameters swept: attack traces with an anomalous epoch, normal traces"
echo "   and epochs flagged (each trace a container that falls quiet at its end)"
"$bin" profile sweep "${adfa[@]}" \
    --train "$data/Training_Data_Master" \
    --normal "$data/Validation_Data_Master" \
    --attack "$data/Attack_Data_Master" \
    --windows 6,8,10,12,15 --epochs 100,200,500,1000 --ratios 0,0.01,0.05,0.1,0.2,0.3,0.5
echo

echo "== The live back-off scorer swept: anomalous above a mean surprisal per window (nats)"
"$bin" profile sweep "${adfa[@]}" \
    --train "$data/Training_Data_Master" \
    --normal "$data/Validation_Data_Master" \
    --attack "$data/Attack_Data_Master" \
    --windows 10 --epochs 100,1000 --surprises 0.5,1,1.5,2,3
