#!/usr/bin/env bash
# Installs what perfconform needs on a fresh Debian (bookworm) machine, as root:
# the BPF toolchain for fixtures and the libbpf adapter, bpftool, Debian's
# rustc-web/cargo-web for the aya adapter, QEMU for the
# VM matrix (x86_64 and aarch64 guests), the arm64 cross compiler for the
# libbpf adapter in arm64 guests, Chromium for the HTML report test, and
# mounts bpffs. Sourced by
# scripts/test.sh and scripts/run.sh; safe to run again (it skips what is there).
set -euo pipefail

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "perfconform: this needs root (it loads BPF programs and installs packages): sudo $0" >&2
		exit 1
	fi
}

install_packages() {
	local pkgs=(clang llvm make gcc libc6-dev libbpf-dev libelf-dev zlib1g-dev bpftool
		qemu-system-x86 qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross
		chromium ca-certificates debian-archive-keyring
		python3-bpfcc) # the bcc adapter: bookworm's bcc 0.26 for /usr/bin/python3
	# The aya adapter is Rust: aya 0.13.1 needs rustc >= 1.80, bookworm's rustc
	# is 1.63, its rustc-web/cargo-web are 1.85+. Installed like every other
	# package, so every machine (and the debian:bookworm CI container) has the
	# same toolchain; a rustup toolchain in ~/.cargo/bin works as well. Skipped
	# where Debian's own rustc or cargo is installed (they conflict; conform
	# adapters then says whether that toolchain is new enough). aya's crates
	# come from Debian trixie, fetched by conform (internal/debapt).
	if ! dpkg-query -W -f='${Status}' rustc cargo 2>/dev/null | grep -q "install ok installed"; then
		pkgs+=(rustc-web cargo-web)
	fi
	local missing=()
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		# Say so before apt-get update: with no sources it would "succeed"
		# and install would then fail with "Unable to locate package".
		if [ -z "$(apt-get indextargets --format '$(SITE)' 2>/dev/null)" ]; then
			echo "perfconform: missing packages: ${missing[*]}; apt has no package sources to install them from" \
				"(APT_CONFIG=${APT_CONFIG:-unset}). Install them, or give apt its Debian sources back, then run again." >&2
			exit 1
		fi
		echo "== installing: ${missing[*]}"
		apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
	# Kernels and packages from other Debian suites are fetched by conform
	# itself through a private apt configuration (internal/debapt).
}

mount_bpffs() {
	if ! mountpoint -q /sys/fs/bpf; then
		mount -t bpf bpf /sys/fs/bpf
	fi
}

need_go() {
	export PATH="$PATH:/usr/local/go/bin"
	if ! command -v go >/dev/null; then
		echo "perfconform: Go 1.26 is required (https://go.dev/dl); not found in PATH" >&2
		exit 1
	fi
}

need_root
need_go
install_packages
mount_bpffs
