//! Exposes the libbpf-rs version compiled into the adapter as
//! PERFCONFORM_LIBBPF_RS_VERSION (from Cargo.lock: the build is --locked),
//! the Debian package of the libbpf linked in as
//! PERFCONFORM_LIBBPF_PACKAGE (from the build's environment, as the C
//! adapter's LIBBPF_PACKAGE_VERSION), and links libelf.a and libz.a after
//! libbpf.a: libbpf-sys asks for -lelf -lz -lbpf in that order, which GNU ld
//! cannot resolve statically. `-C link-arg`s come last on the line, after
//! rustc's -Bdynamic, so they name the archives (-l:libelf.a): a plain -lelf
//! there links libelf.so into the static-pie executable, which then crashes
//! before main. libc.a comes again in the group for what libelf.a needs.
use std::{env, fs, path::Path};

fn main() {
    let lock = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = fs::read_to_string(&lock).unwrap_or_else(|e| panic!("{}: {e}", lock.display()));
    let version = text
        .split("[[package]]")
        .find(|pkg| pkg.lines().any(|l| l.trim() == "name = \"libbpf-rs\""))
        .and_then(|pkg| pkg.lines().find_map(|l| l.trim().strip_prefix("version = \"")))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{}: no libbpf-rs package", lock.display()));
    println!("cargo:rustc-env=PERFCONFORM_LIBBPF_RS_VERSION={version}");
    println!("cargo:rerun-if-env-changed=PERFCONFORM_LIBBPF_PACKAGE");
    let pkg = env::var("PERFCONFORM_LIBBPF_PACKAGE").unwrap_or_default();
    println!("cargo:rustc-env=PERFCONFORM_LIBBPF_PACKAGE={pkg}");
    for arg in ["-Wl,--start-group", "-l:libelf.a", "-l:libz.a", "-l:libc.a", "-Wl,--end-group"] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}
