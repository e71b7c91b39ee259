#!/usr/bin/env bash
# Regenerates the committed compatibility report in reports/ from real runs
# on this machine, under TCG (docs/PERFORMANCE.md has the time it takes):
#   1. scripts/run.sh: every built-in loader that runs in VMs, side by side,
#      the full topology set, Debian 5.10, 6.1 and 6.12 (out/full), and bcc
#      beside the reference on this host (out/full-host);
#   2. every other cilium/ebpf release ('conform adapters': the cilium-ebpf@
#      entries that are not the default) on the topologies where its
#      releases differ, on debian-6.1 (the kernel that realizes
#      hotplug-slots) (out/history);
#   3. the arm64 builds of both Debian kernels (emulated arm64 guests), the
#      full topology set, every default loader (each builds for arm64; see
#      `conform adapters`, IN ARM64 VMS) (out/arm64);
#   4. bcc in VMs (amd64: its disk image), the quick set and gapped-possible
#      on the three kernels (out/bcc): about 80 s of suite per VM under TCG
#      for bcc alone (Python and a clang compile per load), five times a
#      compiled adapter, so it has a run of its own rather than the full set;
# then merges them into reports/ (results.json, junit.xml, report.md with its
# "cilium/ebpf across releases" section, report.html). VM logs stay in out/.
# TOPOLOGIES=quick narrows steps 1 and 3 to the quick set.
# Usage (as root, from the checkout): bash scripts/report.sh
set -euo pipefail
cd "$(dirname "$0")/.."
topologies=${TOPOLOGIES:-full}
OUT=out/full TOPOLOGIES=$topologies bash scripts/run.sh --allow-errors || status=$?

history=()
for l in $(bin/conform adapters | awk '$1 ~ /^cilium-ebpf@/ && $2 == "-" { print $1 }'); do history+=(--loader "$l"); done
# Findings of old releases are not gating failures here: the report shows them.
bin/conform run --topology sparse,sparse-high,gapped-possible,hotplug-slots --kernel debian-6.1 \
	"${history[@]}" --gate all --allow-errors --out out/history --force > out/history.txt || hstatus=$?
grep '^requirement results' out/history.txt

bin/conform kernels fetch debian-6.1-arm64 debian-6.12-arm64
bin/conform run --topology "$topologies" --kernel debian-6.1-arm64,debian-6.12-arm64 \
	--loader reference --loader cilium-ebpf --loader libbpf --loader bpftool --loader libbpfgo \
	--gate reference --allow-errors --out out/arm64 --force > out/arm64.txt || astatus=$?
grep '^requirement results' out/arm64.txt

bcc=()
if bin/conform adapters | awk '$1 == "bcc" && $3 == "yes" { found = 1 } END { exit !found }'; then
	bin/conform run --topology quick,gapped-possible --kernel debian-5.10,debian-6.1,debian-6.12 --loader bcc \
		--gate all --allow-errors --out out/bcc --force > out/bcc.txt || bstatus=$?
	grep '^requirement results' out/bcc.txt
	bcc=(out/bcc)
fi

# reports/ is also the Go package that embeds results.json (conform doctor),
# which `report merge --out` rightly refuses to write into: merge into
# out/report, then copy its four files over.
bin/conform report merge out/full out/full-host out/history out/arm64 "${bcc[@]}" --out out/report --force
cp out/report/results.json out/report/junit.xml out/report/report.md out/report/report.html reports/
echo "reports/ updated from out/full, out/history, out/arm64 and out/bcc (conform run exit status ${status:-0}: gating the reference loader's MUSTs; history ${hstatus:-0}; arm64 ${astatus:-0}; bcc ${bstatus:-0})"
exit "${status:-0}"
