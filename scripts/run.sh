#!/usr/bin/env bash
# The main job: installs what it needs, builds every built-in loader adapter,
# and runs the suite against all of them in VMs across the topology set
# (TOPOLOGIES, default quick) on the Debian kernels (KERNELS, default 5.10, 6.1 and 6.12), writing results.json,
# junit.xml, report.md and report.html into OUT (default out/run; an earlier
# run's output there is replaced: --force). The loaders are the defaults
# plus libbpf 1.4 and bpftool 7.5 from bookworm-backports; the cilium/ebpf
# release history is scripts/report.sh's second run.
# KERNELS (comma separated) and LOADERS (space separated) narrow the run;
# .github/workflows/conformance.yml runs one kernel × topology set per job.
# Usage (as root, from the checkout): bash scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

export CGO_ENABLED=0
out=${OUT:-out/run}
go build -o bin/conform ./cmd/conform
kernels=${KERNELS:-debian-5.10,debian-6.1,debian-6.12}
read -ra loaders <<<"${LOADERS:-reference cilium-ebpf libbpf libbpf@1.4 bpftool bpftool@7.5 libbpfgo aya}"
# shellcheck disable=SC2086 # one argument per kernel
bin/conform kernels fetch ${kernels//,/ }
bin/conform run --topology "${TOPOLOGIES:-quick}" --kernel "$kernels" \
	"${loaders[@]/#/--loader=}" \
	--gate reference --out "$out" --force "$@"
