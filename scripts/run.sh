#!/usr/bin/env bash
# The main job: installs what it needs, builds every built-in loader adapter,
# and runs the suite against all of them in VMs across the topology set
# (TOPOLOGIES, default quick) on both Debian kernels, writing results.json,
# junit.xml, report.md and report.html into OUT (default out/run; an earlier
# run's output there is replaced: --force). The loaders are the defaults
# plus libbpf 1.4 and bpftool 7.5 from bookworm-backports (LOADERS overrides
# the list); the cilium/ebpf release history is scripts/report.sh's second
# run.
# Usage (as root, from the checkout): bash scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

export CGO_ENABLED=0
out=${OUT:-out/run}
loaders=()
for l in ${LOADERS:-reference cilium-ebpf libbpf libbpf@1.4 bpftool bpftool@7.5 libbpfgo}; do loaders+=(--loader "$l"); done
go build -o bin/conform ./cmd/conform
bin/conform kernels fetch debian-6.1 debian-6.12
bin/conform run --topology "${TOPOLOGIES:-quick}" --kernel debian-6.1,debian-6.12 \
	"${loaders[@]}" --gate reference --out "$out" --force "$@"
