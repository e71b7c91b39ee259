#!/usr/bin/env bash
# The main job: installs what it needs, builds every built-in loader adapter,
# and runs the suite against all of them in VMs across the topology set
# (TOPOLOGIES, default quick) on the Debian kernels (KERNELS, default 5.10, 6.1 and 6.12), writing results.json,
# junit.xml, report.md and report.html into OUT (default out/run; an earlier
# run's output there is replaced: --force). The loaders are the defaults
# plus libbpf 1.4 and bpftool 7.5 from bookworm-backports, libbpf-rs, and
# libbpf 1.5 from trixie where it can be built (conform adapters says why not); the
# cilium/ebpf release history is scripts/report.sh's second run. bcc runs on
# the host only (it cannot run in the VMs: conform adapters says why), after
# the VM run, into OUT-host.
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
default_loaders="reference cilium-ebpf libbpf libbpf@1.4 bpftool bpftool@7.5 libbpfgo aya libbpf-rs"
# libbpf 1.5 is trixie's libbpf.a: on glibc < 2.38 it links with the C23 shim
# (adapters/libbpf/c23compat.c), and conform adapters says when it cannot.
if bin/conform adapters | awk '$1 == "libbpf@1.5" && $3 == "yes" { found = 1 } END { exit !found }'; then
	default_loaders+=" libbpf@1.5"
fi
read -ra loaders <<<"${LOADERS:-$default_loaders}"
# shellcheck disable=SC2086 # one argument per kernel
bin/conform kernels fetch ${kernels//,/ }
bin/conform run --topology "${TOPOLOGIES:-quick}" --kernel "$kernels" \
	"${loaders[@]/#/--loader=}" \
	--gate reference --out "$out" --force "$@"
# bcc: host only (Python, libbcc, LLVM and kernel headers at run time).
if [ -z "${LOADERS:-}" ]; then
	bin/conform run --host --loader reference --loader bcc --gate reference --out "$out-host" --force
fi
