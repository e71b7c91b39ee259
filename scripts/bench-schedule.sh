#!/usr/bin/env bash
# Compares two conform builds on the same VMs, A B A B in one sitting, and
# prints each VM's after-boot seconds, the wall time of each run, the ratio
# B/A and every (kernel, topology, loader, requirement) cell whose status
# differs between A and B (docs/PERFORMANCE.md, section 3).
#
#   bash scripts/bench-schedule.sh OLD_CONFORM OLD_BIN_DIR [conform run flags...]
#
# A is OLD_CONFORM (e.g. a build of 96b4107, its adapters in OLD_BIN_DIR), B is
# bin/conform of this checkout; the flags (--kernel, --topology, --loader, -j)
# go to both. ROUNDS=N (default 2) pairs; OUT=dir keeps each run's output.
# Example (the issue's per-VM figure):
#   bash scripts/bench-schedule.sh /old/bin/conform /old/bin --kernel debian-6.1 --topology sparse -j 1 \
#     --loader reference --loader cilium-ebpf --loader libbpf --loader libbpf@1.4 --loader bpftool \
#     --loader bpftool@7.5 --loader libbpfgo --loader aya
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 oldbin=$2
shift 2
out=${OUT:-$(mktemp -d /tmp/bench-schedule.XXXXXX)}
mkdir -p "$out"
rounds=${ROUNDS:-2}
for i in $(seq 1 "$rounds"); do
	for side in A B; do
		dir=$out/$side$i
		rm -rf "$dir"
		start=$(date +%s.%N)
		load=$(cut -d' ' -f1 /proc/loadavg)
		if [ $side = A ]; then
			"$old" run --bin-dir "$oldbin" --out "$dir" "$@" >"$dir.txt" 2>"$dir.err" || true
		else
			bin/conform run --gate reference --allow-errors --out "$dir" "$@" >"$dir.txt" 2>"$dir.err" || true
		fi
		end=$(date +%s.%N)
		echo "$side$i wall $(echo "$end - $start" | bc) s, load $load at start: $(grep '^requirement results' "$dir.txt")"
	done
done
python3 - "$out" "$rounds" <<'EOF'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def load(name):
    d = json.load(open(f"{out}/{name}/results.json"))
    after = {f"{r['kernel']['name']}/{r['topology']}": (r.get('duration_ns', 0) - r.get('boot_ns', 0)) / 1e9 for r in d['runs']}
    cells = {(r['kernel'], r['topology'], r['loader'], r['requirement']): r['status'] for r in d['results']}
    return after, cells
runs = {f"{s}{i}": load(f"{s}{i}") for i in range(1, rounds + 1) for s in "AB"}
vms = sorted(runs["A1"][0])
print("after boot, seconds:")
print("VM".ljust(28) + "".join(n.rjust(9) for n in runs) + "   B/A (sum of B ÷ sum of A)")
for vm in vms:
    a = sum(runs[f"A{i}"][0].get(vm, 0) for i in range(1, rounds + 1))
    b = sum(runs[f"B{i}"][0].get(vm, 0) for i in range(1, rounds + 1))
    print(vm.ljust(28) + "".join(f"{runs[n][0].get(vm, 0):9.1f}" for n in runs) + f"   {b / a if a else 0:.2f}x")
diffs = 0
for n in runs:
    if n == "A1":
        continue
    for cell, st in runs["A1"][1].items():
        other = runs[n][1].get(cell)
        if other != st:
            diffs += 1
            print(f"status differs, A1 vs {n}: {' '.join(cell)}: {st} vs {other}")
    for cell in set(runs[n][1]) - set(runs["A1"][1]):
        diffs += 1
        print(f"only in {n}: {' '.join(cell)}")
print(f"{len(runs['A1'][1])} cells per run; {diffs} differing from A1")
EOF
echo "runs kept in $out"
