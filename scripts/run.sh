#!/usr/bin/env bash
# The main job: installs what it needs, builds every built-in loader adapter,
# and runs the suite against all of them in VMs across the topology set
# (TOPOLOGIES, default quick) on both Debian kernels, writing results.json,
# junit.xml, report.md and report.html into OUT (default out/run; an earlier
# run's output there is replaced: --force).
# Usage (as root, from the checkout): bash scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

export CGO_ENABLED=0
out=${OUT:-out/run}
go build -o bin/conform ./cmd/conform
bin/conform kernels fetch debian-6.1 debian-6.12
bin/conform run --topology "${TOPOLOGIES:-quick}" --kernel debian-6.1,debian-6.12 \
	--loader reference --loader cilium-ebpf --loader libbpf --loader bpftool --loader libbpfgo \
	--gate reference --out "$out" --force "$@"
