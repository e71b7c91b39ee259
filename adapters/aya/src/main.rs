//! The perfconform adapter for aya (docs/ADAPTERS.md, protocol version 1).
//!
//! `load` drives aya the way aya's documentation tells its users to:
//!
//! 1. `EbpfLoader::new().map_pin_path(DIR).load_file(OBJECT)` with nothing
//!    else set, so aya sizes perf event arrays itself (`max_entries` 0 becomes
//!    `aya::util::nr_cpus()`), and maps the object declares pinned by name are
//!    created in, or reused from, `DIR/NAME` by aya's own pinning.
//! 2. Every other map is pinned with `Map::pin(DIR/NAME)` (aya has no
//!    loader-side switch to pin a map the object does not declare pinned).
//! 3. Every program is loaded and left unattached, as the other adapters do.
//! 4. On every perf event array, `AsyncPerfEventArray::open(cpu, Some(pages))`
//!    for each CPU of `aya::util::online_cpus()`, each buffer read by its own
//!    tokio task with `read_events`: aya's examples' pattern. A record is
//!    reported with the CPU whose buffer produced it.
//!
//! The `control-readers-on-possible-cpus` cargo feature is a negative control
//! for the test suite only; see `reader_cpus`.
use std::io::{self, Read, Write};
use std::path::Path;
use std::process;

use aya::maps::{AsyncPerfEventArray, Map, MapData, MapInfo};
use aya::programs::Program;
use aya::util::online_cpus;
use aya::EbpfLoader;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::BytesMut;
use serde_json::{json, Value};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

/// The aya version this binary is linked with, read from Cargo.lock by
/// build.rs (the build is --locked, so it is the version compiled in).
const AYA_VERSION: &str = env!("PERFCONFORM_AYA_VERSION");
const PROTOCOL_VERSION: u32 = 1;

/// Buffers handed to each read_events call: up to this many records per read.
const READ_BUFFERS: usize = 16;

/// emit writes one protocol line and flushes: stdout is a pipe.
fn emit(v: Value) {
    let mut out = io::stdout().lock();
    // A closed stdout means the suite is gone; nothing left to report to.
    if writeln!(out, "{v}").and_then(|()| out.flush()).is_err() {
        process::exit(1);
    }
}

/// fail reports a failure at stage ("load" or "reader") and exits non-zero.
fn fail(stage: &str, message: String) -> ! {
    emit(json!({"event": "error", "stage": stage, "message": message}));
    process::exit(1)
}

/// error_chain renders an error with its sources, as aya's errors keep the
/// errno in a source ("map events: ... : Invalid argument (os error 22)").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut msg = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !msg.contains(&s) {
            msg.push_str(": ");
            msg.push_str(&s);
        }
        source = e.source();
    }
    msg
}

fn usage() -> ! {
    eprintln!("usage: aya-perfconform info | load --object PATH --pin-dir DIR --pages N");
    process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("info") if args.len() == 1 => info(),
        Some("load") => {
            let (mut object, mut pin_dir, mut pages) = (None, None, 8usize);
            let mut rest = args[1..].iter();
            while let Some(flag) = rest.next() {
                let value = rest.next().unwrap_or_else(|| usage());
                match flag.as_str() {
                    "--object" => object = Some(value.clone()),
                    "--pin-dir" => pin_dir = Some(value.clone()),
                    "--pages" => pages = value.parse().unwrap_or_else(|_| usage()),
                    _ => usage(),
                }
            }
            let (Some(object), Some(pin_dir)) = (object, pin_dir) else { usage() };
            if pages == 0 {
                usage()
            }
            load(&object, &pin_dir, pages)
        }
        _ => usage(),
    }
}

fn info() {
    // "legacy-maps": aya parses the legacy "maps" section (struct
    // bpf_map_def), checked on the perf_legacy fixture (docs/ADAPTERS.md).
    emit(json!({
        "loader": "aya",
        "version": AYA_VERSION,
        "protocol": PROTOCOL_VERSION,
        "capabilities": ["legacy-maps", "pinning"],
    }));
}

/// raise_memlock lifts RLIMIT_MEMLOCK as aya's project template does: kernels
/// before 5.11 charge BPF maps against it. Failure is not fatal (the template
/// only logs it); map creation then reports EPERM itself.
fn raise_memlock() {
    let rlim = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: setrlimit reads a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &rlim) } != 0 {
        eprintln!("aya adapter: raising RLIMIT_MEMLOCK failed: {}", io::Error::last_os_error());
    }
}

/// reader_cpus is where the perf readers are opened: aya::util::online_cpus(),
/// as aya's documentation and examples do.
#[cfg(not(feature = "control-readers-on-possible-cpus"))]
fn reader_cpus() -> Result<Vec<u32>, String> {
    online_cpus().map_err(|(path, err)| format!("online CPUs ({path}): {err}"))
}

/// reader_cpus of the negative control: CPUs 0..nr_cpus(), the possible-CPU
/// count, which includes offline CPUs where possible > online.
#[cfg(feature = "control-readers-on-possible-cpus")]
fn reader_cpus() -> Result<Vec<u32>, String> {
    let _ = online_cpus; // the real adapter's source of CPUs, unused here
    aya::util::nr_cpus()
        .map(|n| (0..n as u32).collect())
        .map_err(|(path, err)| format!("possible CPUs ({path}): {err}"))
}

/// map_data is the MapData behind every kind of aya map.
fn map_data(map: &Map) -> &MapData {
    match map {
        Map::Array(m)
        | Map::BloomFilter(m)
        | Map::CpuMap(m)
        | Map::DevMap(m)
        | Map::DevMapHash(m)
        | Map::HashMap(m)
        | Map::LpmTrie(m)
        | Map::LruHashMap(m)
        | Map::PerCpuArray(m)
        | Map::PerCpuHashMap(m)
        | Map::PerCpuLruHashMap(m)
        | Map::PerfEventArray(m)
        | Map::ProgramArray(m)
        | Map::Queue(m)
        | Map::RingBuf(m)
        | Map::SockHash(m)
        | Map::SockMap(m)
        | Map::Stack(m)
        | Map::StackTraceMap(m)
        | Map::Unsupported(m)
        | Map::XskMap(m) => m,
    }
}

/// pin pins map at path unless aya already did (a map the object declares
/// pinned by name, created in or reused from map_pin_path). A path holding
/// another map makes Map::pin fail with EEXIST: aya reuses pins only for maps
/// the object declares pinned by name.
fn pin(name: &str, map: &Map, path: &Path) -> Result<(), String> {
    let ours = map_data(map).info().map_err(|e| format!("map {name}: {}", error_chain(&e)))?.id();
    if let Ok(pinned) = MapInfo::from_pin(path) {
        if pinned.id() == ours {
            return Ok(());
        }
    }
    map.pin(path).map_err(|e| format!("pin map {name} at {}: {}", path.display(), error_chain(&e)))
}

/// load_program loads one program, unattached. Program types whose load needs
/// an attach target (BTF tracepoints, fentry/fexit, LSM, extensions) are not
/// supported: no fixture has one.
fn load_program(name: &str, program: &mut Program) -> Result<(), String> {
    let res = match program {
        Program::KProbe(p) => p.load(),
        Program::UProbe(p) => p.load(),
        Program::TracePoint(p) => p.load(),
        Program::SocketFilter(p) => p.load(),
        Program::Xdp(p) => p.load(),
        Program::SkMsg(p) => p.load(),
        Program::SkSkb(p) => p.load(),
        Program::CgroupSockAddr(p) => p.load(),
        Program::SockOps(p) => p.load(),
        Program::SchedClassifier(p) => p.load(),
        Program::CgroupSkb(p) => p.load(),
        Program::CgroupSysctl(p) => p.load(),
        Program::CgroupSockopt(p) => p.load(),
        Program::LircMode2(p) => p.load(),
        Program::PerfEvent(p) => p.load(),
        Program::RawTracePoint(p) => p.load(),
        Program::SkLookup(p) => p.load(),
        Program::CgroupSock(p) => p.load(),
        Program::CgroupDevice(p) => p.load(),
        other => {
            return Err(format!(
                "program {name}: a {:?} program needs an attach target to load; this adapter loads only programs that need none",
                other.prog_type()
            ))
        }
    };
    res.map_err(|e| format!("load program {name}: {}", error_chain(&e)))
}

/// Why the reader loop ended.
enum Stop {
    /// stdin reached EOF or SIGTERM/SIGINT arrived: exit 0.
    Asked,
    /// A perf buffer failed: report it and exit non-zero.
    Reader(String),
}

#[tokio::main(flavor = "current_thread")]
async fn load(object: &str, pin_dir: &str, pages: usize) {
    raise_memlock();

    // 1. aya's defaults: nothing sized or fixed up by us.
    let mut ebpf = EbpfLoader::new()
        .map_pin_path(pin_dir)
        .load_file(object)
        .unwrap_or_else(|e| fail("load", format!("{object}: {}", error_chain(&e))));

    // 2. Every map pinned as DIR/NAME.
    let mut names: Vec<String> = ebpf.maps().map(|(n, _)| n.to_string()).collect();
    names.sort();
    for name in &names {
        let map = ebpf.map(name).expect("listed map");
        if let Err(msg) = pin(name, map, &Path::new(pin_dir).join(name)) {
            fail("load", msg);
        }
    }

    // 3. Every program loaded, none attached.
    for (name, program) in ebpf.programs_mut() {
        if let Err(msg) = load_program(name, program) {
            fail("load", msg);
        }
    }

    // 4. A buffer per CPU of every perf event array, each read by a task.
    let perf_maps: Vec<String> = names
        .iter()
        .filter(|n| matches!(ebpf.map(n), Some(Map::PerfEventArray(_))))
        .cloned()
        .collect();
    let cpus = reader_cpus().unwrap_or_else(|msg| fail("reader", msg));
    let (stop_tx, mut stop_rx) = mpsc::unbounded_channel::<Stop>();
    for name in &perf_maps {
        let map = ebpf.take_map(name).expect("listed map");
        let mut array = AsyncPerfEventArray::try_from(map)
            .unwrap_or_else(|e| fail("reader", format!("map {name}: {}", error_chain(&e))));
        for &cpu in &cpus {
            let mut buf = array.open(cpu, Some(pages)).unwrap_or_else(|e| {
                fail("reader", format!("perf buffer of map {name} for CPU {cpu}: {}", error_chain(&e)))
            });
            let (name, stop_tx) = (name.clone(), stop_tx.clone());
            tokio::spawn(async move {
                let mut buffers: Vec<BytesMut> =
                    (0..READ_BUFFERS).map(|_| BytesMut::with_capacity(1024)).collect();
                loop {
                    let events = match buf.read_events(&mut buffers).await {
                        Ok(events) => events,
                        Err(e) => {
                            let msg = format!("reading perf buffer of map {name} for CPU {cpu}: {}", error_chain(&e));
                            let _ = stop_tx.send(Stop::Reader(msg));
                            return;
                        }
                    };
                    for data in &buffers[..events.read] {
                        emit(json!({"event": "sample", "map": name, "cpu": cpu, "data": STANDARD.encode(data)}));
                    }
                    if events.lost > 0 {
                        emit(json!({"event": "lost", "map": name, "cpu": cpu, "lost": events.lost}));
                    }
                }
            });
        }
    }

    // 5. Ready; then run until stdin closes, SIGTERM (or SIGINT) arrives, or a
    // reader fails. stdin is drained by a plain thread: tokio's stdin would
    // keep the runtime from shutting down while it blocks.
    let mut term = signal(SignalKind::terminate()).unwrap_or_else(|e| fail("reader", format!("SIGTERM handler: {e}")));
    let mut int = signal(SignalKind::interrupt()).unwrap_or_else(|e| fail("reader", format!("SIGINT handler: {e}")));
    let stdin_tx = stop_tx.clone();
    std::thread::spawn(move || {
        let mut sink = [0u8; 256];
        let mut stdin = io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        let _ = stdin_tx.send(Stop::Asked);
    });
    emit(json!({"event": "ready", "maps": perf_maps}));
    let stop = tokio::select! {
        s = stop_rx.recv() => s.unwrap_or(Stop::Asked),
        _ = term.recv() => Stop::Asked,
        _ = int.recv() => Stop::Asked,
    };
    match stop {
        // Maps stay pinned; exit without waiting for the blocked stdin thread.
        Stop::Asked => process::exit(0),
        Stop::Reader(msg) => fail("reader", msg),
    }
}
