//! Exposes the aya version compiled into the adapter as
//! PERFCONFORM_AYA_VERSION, read from Cargo.lock: the build runs with
//! --locked, so the lock file names exactly the aya that is linked.
use std::{env, fs, path::Path};

fn main() {
    let lock = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = fs::read_to_string(&lock).unwrap_or_else(|e| panic!("{}: {e}", lock.display()));
    let version = text
        .split("[[package]]")
        .find(|pkg| pkg.lines().any(|l| l.trim() == "name = \"aya\""))
        .and_then(|pkg| pkg.lines().find_map(|l| l.trim().strip_prefix("version = \"")))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{}: no aya package", lock.display()));
    println!("cargo:rustc-env=PERFCONFORM_AYA_VERSION={version}");
}
