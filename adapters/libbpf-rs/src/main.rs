//! The perfconform adapter for libbpf-rs (docs/ADAPTERS.md, protocol version 1).
//!
//! `load` drives libbpf-rs the way its documentation and examples do:
//!
//! 1. `ObjectBuilder::default().open_file(OBJECT)` with default options, so
//!    libbpf sizes perf event arrays itself.
//! 2. `OpenMapMut::set_pin_path(DIR/NAME)` on every map before `load()`:
//!    libbpf's pin-by-path, which reuses a compatible map already pinned there
//!    and pins the others while loading; `MapMut::pin` afterwards is a no-op
//!    for those (as in the libbpf C adapter).
//! 3. `OpenObject::load()` (programs loaded, nothing attached).
//! 4. On every perf event array, `PerfBufferBuilder::new(&map).pages(N)
//!    .sample_cb(..).lost_cb(..).build()` (libbpf's `perf_buffer__new`),
//!    polled through its epoll fd and `consume()`; samples and lost counts are
//!    reported with the CPU libbpf passes to the callbacks.
//!
//! The `control-ignore-sample-cpu` cargo feature is a negative control for
//! the test suite only; see `sample_cpu`.
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libbpf_rs::{MapCore, MapType, ObjectBuilder, PerfBufferBuilder, PrintLevel};
use serde_json::{json, Value};

/// The libbpf-rs version this binary is linked with (Cargo.lock, --locked).
const LIBBPF_RS_VERSION: &str = env!("PERFCONFORM_LIBBPF_RS_VERSION");
/// The Debian package of the libbpf linked in ("1:1.4.6-1~bpo12+1"), or "".
const LIBBPF_PACKAGE: &str = env!("PERFCONFORM_LIBBPF_PACKAGE");
const PROTOCOL_VERSION: u32 = 1;

static STOP: AtomicBool = AtomicBool::new(false);
/// libbpf's warnings since the last reset, "; "-joined, for error lines: the
/// final error is often just "failed to load object", these say why.
static LIBBPF_LOG: Mutex<String> = Mutex::new(String::new());

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
    let log = LIBBPF_LOG.lock().map(|l| l.clone()).unwrap_or_default();
    let message = if log.is_empty() { message } else { format!("{message} (libbpf: {log})") };
    emit(json!({"event": "error", "stage": stage, "message": message}));
    process::exit(1)
}

/// print keeps libbpf's warnings on stderr and collects them.
fn print(level: PrintLevel, msg: String) {
    if matches!(level, PrintLevel::Debug) {
        return;
    }
    eprint!("{msg}");
    if let Ok(mut log) = LIBBPF_LOG.lock() {
        if !log.is_empty() {
            log.push_str("; ");
        }
        log.push_str(msg.trim_end());
    }
}

fn usage() -> ! {
    eprintln!("usage: libbpf-rs-perfconform info | load --object PATH --pin-dir DIR --pages N");
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

/// info names libbpf-rs and the libbpf linked in: libbpf's own
/// libbpf_major/minor_version() and the Debian package it came from.
fn info() {
    // SAFETY: plain getters without arguments.
    let (major, minor) =
        unsafe { (libbpf_rs::libbpf_sys::libbpf_major_version(), libbpf_rs::libbpf_sys::libbpf_minor_version()) };
    let pkg = if LIBBPF_PACKAGE.is_empty() {
        String::new()
    } else {
        format!(", Debian libbpf-dev {LIBBPF_PACKAGE}")
    };
    // No "legacy-maps": libbpf 1.x refuses the legacy SEC("maps").
    emit(json!({
        "loader": "libbpf-rs",
        "version": format!("{LIBBPF_RS_VERSION} (libbpf v{major}.{minor}{pkg})"),
        "protocol": PROTOCOL_VERSION,
        "capabilities": ["pinning"],
    }));
}

extern "C" fn on_term(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// sample_cpu is the CPU a sample is reported with: the one libbpf's
/// callback names, except in the negative control, which drops it as a
/// `|_cpu, data|` closure does and files every record under CPU 0.
fn sample_cpu(cpu: i32) -> i32 {
    if cfg!(feature = "control-ignore-sample-cpu") {
        0
    } else {
        cpu
    }
}

fn load(object: &str, pin_dir: &str, pages: usize) {
    libbpf_rs::set_print(Some((PrintLevel::Warn, print)));
    // SAFETY: installing async-signal-safe handlers that store an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_term as extern "C" fn(libc::c_int) as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_term as extern "C" fn(libc::c_int) as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }

    let mut open = ObjectBuilder::default()
        .open_file(object)
        .unwrap_or_else(|e| fail("load", format!("open {object}: {e:#}")));
    for mut map in open.maps_mut() {
        let name = map.name().to_string_lossy().into_owned();
        let path = Path::new(pin_dir).join(&name);
        if let Err(e) = map.set_pin_path(&path) {
            fail("load", format!("set pin path of map {name} to {}: {e:#}", path.display()));
        }
    }
    let mut obj = open.load().unwrap_or_else(|e| fail("load", format!("load {object}: {e:#}")));
    for mut map in obj.maps_mut() {
        let name = map.name().to_string_lossy().into_owned();
        let path = Path::new(pin_dir).join(&name);
        if let Err(e) = map.pin(&path) {
            fail("load", format!("pin map {name} at {}: {e:#}", path.display()));
        }
    }
    if let Ok(mut log) = LIBBPF_LOG.lock() {
        log.clear(); // reader errors get only what follows
    }

    // One line buffer shared by the callbacks of every perf buffer: they run
    // on this thread, inside consume().
    let pending: Rc<RefCell<Vec<Value>>> = Rc::new(RefCell::new(Vec::new()));
    let mut names = Vec::new();
    let mut buffers = Vec::new();
    for map in obj.maps() {
        if map.map_type() != MapType::PerfEventArray {
            continue;
        }
        let name = map.name().to_string_lossy().into_owned();
        let (samples, lost) = (Rc::clone(&pending), Rc::clone(&pending));
        let (sample_map, lost_map) = (name.clone(), name.clone());
        let pb = PerfBufferBuilder::new(&map)
            .pages(pages)
            .sample_cb(move |cpu: i32, data: &[u8]| {
                samples.borrow_mut().push(json!({
                    "event": "sample", "map": sample_map, "cpu": sample_cpu(cpu), "data": STANDARD.encode(data),
                }));
            })
            .lost_cb(move |cpu: i32, count: u64| {
                lost.borrow_mut().push(json!({"event": "lost", "map": lost_map, "cpu": cpu, "lost": count}));
            })
            .build()
            .unwrap_or_else(|e| fail("reader", format!("PerfBufferBuilder::build for map {name}: {e:#}")));
        names.push(name);
        buffers.push(pb);
    }
    emit(json!({"event": "ready", "maps": names}));

    let mut fds = vec![libc::pollfd { fd: io::stdin().as_raw_fd(), events: libc::POLLIN, revents: 0 }];
    fds.extend(buffers.iter().map(|pb| libc::pollfd { fd: pb.epoll_fd(), events: libc::POLLIN, revents: 0 }));
    let mut rc = 0;
    'run: while !STOP.load(Ordering::SeqCst) {
        // SAFETY: fds is a valid array of fds.len() pollfds.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 200) };
        if ready < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            fail("reader", format!("poll: {err}"));
        }
        if fds[0].revents != 0 {
            let mut sink = [0u8; 256];
            match io::stdin().read(&mut sink) {
                Ok(0) | Err(_) => break, // stdin closed: the suite asks us to stop
                Ok(_) => {}
            }
        }
        for (i, pb) in buffers.iter().enumerate() {
            if fds[i + 1].revents == 0 {
                continue;
            }
            let res = pb.consume();
            for line in pending.borrow_mut().drain(..) {
                emit(line);
            }
            if let Err(e) = res {
                let log = LIBBPF_LOG.lock().map(|l| l.clone()).unwrap_or_default();
                let log = if log.is_empty() { String::new() } else { format!(" (libbpf: {log})") };
                emit(json!({"event": "error", "stage": "reader",
                    "message": format!("PerfBuffer::consume for map {}: {e:#}{log}", names[i])}));
                rc = 1;
                break 'run;
            }
        }
    }
    drop(buffers);
    drop(obj); // maps stay pinned
    process::exit(rc)
}
