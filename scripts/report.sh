#!/usr/bin/env bash
# Regenerates the committed compatibility report in reports/: every built-in
# loader × the full topology set × both Debian kernels, from a real run on
# this machine. The VM logs stay in out/full; reports/ gets results.json,
# junit.xml, report.md and report.html.
# Usage (as root, from the checkout): bash scripts/report.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=out/full TOPOLOGIES=full bash scripts/run.sh --allow-errors || status=$?
mkdir -p reports
cp out/full/results.json out/full/junit.xml out/full/report.md out/full/report.html reports/
echo "reports/ updated from out/full (conform run exit status ${status:-0}: gating the reference loader's MUSTs)"
exit "${status:-0}"
