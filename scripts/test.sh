#!/usr/bin/env bash
# The test command: installs what it needs, then runs the suite on this host
# (reference and bcc) and the quick VM matrix on Debian 5.10, 6.1 and 6.12
# (every built-in loader that runs in VMs, side by side; the reference gates;
# arm64 guests boot in the VM tests), then vet, every unit and kernel test (host BPF and QEMU VMs; go test ./adapters builds and runs
# every cilium/ebpf release on the host) and the CPU-list parser fuzz target,
# so go test's lines close the log. Usage (as root, from the checkout):
# bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

export CGO_ENABLED=0 # the conform binary must be static to be its own VM guest
out=${OUT:-out/test}
rm -rf "$out" && mkdir -p "$out"

echo "== build"
go build -o bin/conform ./cmd/conform
echo "== kernels"
bin/conform kernels fetch debian-5.10 debian-6.1 debian-6.12 debian-6.1-arm64 debian-6.12-arm64 # arm64: for the VM tests
echo "== suite on this host: reference and bcc"
bin/conform run --host --loader reference --loader bcc --gate reference --out "$out/host"
echo "== quick VM matrix, Debian 5.10, 6.1 and 6.12, every built-in loader that runs in VMs (gating the reference's MUSTs)"
# One line per result goes to a file (other loaders' FAIL lines are findings,
# not test failures, and would read like them in a CI log); progress, the VM
# table and the gate go to the log; the findings are in report.md.
# Loaders side by side in each VM (docs/SPEC.md): adding one costs a share of
# a VM, not a pass of its own.
vm_loaders=(reference cilium-ebpf libbpf libbpf@1.4 bpftool bpftool@7.5 libbpfgo aya libbpf-rs)
if bin/conform adapters | awk '$1 == "libbpf@1.5" && $3 == "yes" { found = 1 } END { exit !found }'; then
	vm_loaders+=(libbpf@1.5)
fi
bin/conform run --topology quick --kernel debian-5.10,debian-6.1,debian-6.12 \
	"${vm_loaders[@]/#/--loader=}" --gate reference --out "$out/vm-quick" \
	> "$out/vm-quick.txt"
grep '^requirement results' "$out/vm-quick.txt"
echo "per-result lines: $out/vm-quick.txt; findings: $out/vm-quick/report.md"
# arm64 guests: go test's vmtest TestVMArchitectures boots sparse on both arm64
# kernels next to an amd64 job; the arm64 quick matrix (~5-12 min of TCG here)
# runs in scripts/report.sh, keeping .ci/run well inside its 90 minutes.
echo "== go vet, go.mod tidy"
go vet ./...
go mod tidy -diff
echo "== go test"
CGO_ENABLED=1 go test -count=1 -timeout 60m ./... 2>&1 | tee "$out/go-test.txt"
echo "== fuzz the CPU-list parser (30s)"
go test -run '^$' -fuzz '^FuzzParseCPUList$' -fuzztime 30s ./reference/topology
