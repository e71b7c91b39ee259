#!/usr/bin/python3
"""The perfconform adapter for bcc (docs/ADAPTERS.md, protocol version 1.2).

bcc compiles its own C dialect at run time; it does not load ELF objects. So
`load --object DIR/NAME.o` compiles this directory's fixtures/NAME.c, the same
fixture written the way bcc's documentation and tools write it:

1. ``BPF(src_file=..., cflags=[...])`` with nothing else set: bcc's clang
   frontend creates every table and sizes the ``BPF_PERF_OUTPUT`` /
   ``BPF_TABLE("perf_output", ...)`` arrays itself.
2. The fixture's program is loaded unattached (``load_func(..., RAW_TRACEPOINT)``),
   as the other adapters load theirs: the suite triggers output itself.
3. Every table is pinned as DIR/NAME with libbcc's ``bpf_obj_pin`` on the
   table's fd (bcc has no loader-side pin-by-name; a path that already holds a
   map makes the pin fail with EEXIST, which the COMPAT requirements record).
4. On every perf output table, ``table.open_perf_buffer(cb, page_cnt=N,
   lost_cb=...)``, then ``perf_buffer_poll`` until stdin closes or SIGTERM.
   A sample is reported with the CPU whose ring it came from (bcc's callback
   gets it); a lost count has no CPU in bcc's callback and is reported with
   cpu -1.

What bcc's dialect cannot express is refused with the "unsupported" stage
(protocol 1.2): a perf array declared with only its type (bcc always declares
an int key and a u32 value) and the legacy "maps" section.

PERFCONFORM_BCC_CONTROL=ignore-sample-cpu turns this into a negative control
for the tests only (every sample reported as CPU 0).
"""
import base64
import ctypes
import json
import os
import select
import signal
import sys

PROTOCOL_VERSION = 1
PROTOCOL_MINOR = 2  # cpu -1 on samples (1.1) is not used; "unsupported" (1.2) is
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
CONTROL = os.environ.get("PERFCONFORM_BCC_CONTROL", "")

# Fixture objects bcc's dialect cannot express, and why.
UNSUPPORTED = {
    "perf_auto": "bcc cannot express a perf event array declared with only its type: BPF_PERF_OUTPUT and "
    "BPF_TABLE(\"perf_output\", ...) always declare an int key and a u32 value (key and value size 4)",
    "perf_legacy": "bcc cannot express the legacy SEC(\"maps\") section (struct bpf_map_def): "
    "its tables are declared with BPF_TABLE and friends",
}
# The program each fixture source defines (loaded, not attached).
PROGRAMS = {"perf_multi": b"emit_both"}

stop = False


def emit(obj):
    try:
        sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        os._exit(1)  # the suite is gone


def fail(stage, message):
    emit({"event": "error", "stage": stage, "message": message})
    sys.exit(1)


def usage():
    sys.stderr.write("usage: bcc-adapter info | load --object PATH --pin-dir DIR --pages N\n")
    sys.exit(2)


def bcc_version():
    import bcc

    pkg = os.environ.get("PERFCONFORM_BCC_PACKAGE", "")
    version = getattr(bcc, "__version__", "unknown")
    return "%s (Debian python3-bpfcc %s)" % (version, pkg) if pkg else version


def info():
    # No "legacy-maps": bcc declares tables in its own dialect.
    emit({"loader": "bcc", "version": bcc_version(), "protocol": PROTOCOL_VERSION,
          "protocol_minor": PROTOCOL_MINOR, "capabilities": ["pinning"]})


def source_for(obj):
    """The bcc source and cflags for a fixture object path."""
    name = os.path.basename(obj)
    if name.endswith(".o"):
        name = name[:-2]
    if name in UNSUPPORTED:
        fail("unsupported", "%s: %s" % (name, UNSUPPORTED[name]))
    cflags = ["-I" + FIXTURES]  # bcc compiles the source as /virtual/main.c
    if name.startswith("perf_explicit_") and name[len("perf_explicit_"):].isdigit():
        cflags.append("-DMAX_ENTRIES=%s" % name[len("perf_explicit_"):])
        base = "perf_explicit"
    else:
        base = name
    path = os.path.join(FIXTURES, base + ".c")
    if not os.path.exists(path):
        fail("load", "bcc compiles C, not ELF objects, and this adapter has no bcc source for %s (looked for %s)"
             % (os.path.basename(obj), path))
    return name, base, path, cflags


def load(obj, pin_dir, pages):
    name, base, path, cflags = source_for(obj)
    from bcc import BPF
    from bcc.libbcc import lib

    try:
        b = BPF(src_file=path.encode(), cflags=cflags)
    except Exception as e:  # bcc prints the compiler's or the kernel's words on stderr
        fail("load", "BPF(src_file=%s, cflags=%s): %s" % (os.path.basename(path), cflags, e))
    try:
        b.load_func(PROGRAMS.get(base, b"emit_sample"), BPF.RAW_TRACEPOINT)
    except Exception as e:
        fail("load", "load_func: %s" % e)

    # libbcc's table listing, which bcc's Python module does not declare.
    lib.bpf_num_tables.argtypes = [ctypes.c_void_p]
    lib.bpf_num_tables.restype = ctypes.c_size_t
    lib.bpf_table_name.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.bpf_table_name.restype = ctypes.c_char_p
    lib.bpf_obj_pin.argtypes = [ctypes.c_int, ctypes.c_char_p]
    lib.bpf_obj_pin.restype = ctypes.c_int
    perf = []
    for i in range(lib.bpf_num_tables(b.module)):
        table = lib.bpf_table_name(b.module, i)
        fd = lib.bpf_table_fd(b.module, table)
        target = os.path.join(pin_dir, table.decode()).encode()
        if lib.bpf_obj_pin(fd, target) != 0:
            err = ctypes.get_errno()
            fail("load", "bpf_obj_pin(table %s, %s): %s" % (table.decode(), target.decode(), os.strerror(err)))
        if lib.bpf_table_type_id(b.module, i) == BPF_MAP_TYPE_PERF_EVENT_ARRAY:
            perf.append(table)

    names = []
    for table in perf:
        label = table.decode()

        def on_sample(cpu, data, size, label=label):
            if CONTROL == "ignore-sample-cpu":
                cpu = 0
            emit({"event": "sample", "map": label, "cpu": cpu,
                  "data": base64.b64encode(ctypes.string_at(data, size)).decode()})

        def on_lost(lost, label=label):
            emit({"event": "lost", "map": label, "cpu": -1, "lost": lost})

        try:
            b[table].open_perf_buffer(on_sample, page_cnt=pages, lost_cb=on_lost)
        except Exception as e:
            fail("reader", "open_perf_buffer on table %s: %s" % (label, e))
        names.append(label)
    emit({"event": "ready", "maps": names})

    while not stop:
        b.perf_buffer_poll(timeout=200)
        r, _, _ = select.select([sys.stdin], [], [], 0)
        if r and not os.read(sys.stdin.fileno(), 256):
            break  # stdin closed: the suite asks us to stop
    # Exit without tearing bcc down (the maps stay pinned; the kernel frees
    # the rest with the process).
    sys.stdout.flush()
    os._exit(0)


BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4


def on_term(signum, frame):
    global stop
    stop = True


# bcc reports most failures on stderr (clang's diagnostics, "could not open
# bpf map: events, error: Invalid argument", an uncaught C++ exception) and
# raises a bare "Failed to compile BPF module" in Python. These stderr lines
# are the loader's own words and go into the error line; clang's warnings
# about the kernel headers do not.
def is_bcc_error(line):
    low = line.lower()
    return "warning" not in low and any(w in low for w in ("error", "could not", "fail", "terminate called", "what()"))


def supervise(args):
    """Runs the load in a child and relays its protocol lines.

    libbcc aborts the whole process on some inputs (an unparseable possible
    CPU list: std::stoi throws, nothing catches it), which would look like a
    crashed adapter; the parent turns a child killed by a signal into the
    error line a user sees as the loader's failure. The parent also adds
    bcc's stderr words to the child's error line.
    """
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(out_r)
        os.close(err_r)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.close(out_w)
        os.close(err_w)
        try:
            load_command(args)
        finally:
            sys.stdout.flush()
            os._exit(1)
    os.close(out_w)
    os.close(err_w)

    def forward(signum, frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    bcc_errors, partial, error, saw_ready = [], {out_r: b"", err_r: b""}, None, False
    open_fds = [out_r, err_r]
    while open_fds:
        try:
            ready, _, _ = select.select(open_fds, [], [])
        except InterruptedError:
            continue
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                open_fds.remove(fd)
                continue
            if fd == err_r:
                os.write(2, chunk)
            data = partial[fd] + chunk
            *lines, partial[fd] = data.split(b"\n")
            for raw in lines:
                if fd == err_r:
                    text = raw.decode(errors="replace").strip()
                    if is_bcc_error(text):
                        bcc_errors.append(text)
                    continue
                try:
                    ev = json.loads(raw)
                except ValueError:
                    sys.stdout.buffer.write(raw + b"\n")  # not ours to judge: the suite will
                    sys.stdout.flush()
                    continue
                if ev.get("event") == "error":
                    error = ev  # final: sent once bcc's stderr is complete
                    continue
                saw_ready = saw_ready or ev.get("event") == "ready"
                emit(ev)
    _, status = os.waitpid(pid, 0)
    said = "; ".join(dict.fromkeys(bcc_errors))[-2000:]
    if error is not None:
        if said:
            error["message"] += " (bcc: %s)" % said
        emit(error)
        os._exit(1)
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        fail("reader" if saw_ready else "load",
             "the load died of %s, raised inside bcc%s" % (sig, " (bcc: %s)" % said if said else ""))
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def main(argv):
    if len(argv) == 1 and argv[0] == "info":
        return info()
    if not argv or argv[0] != "load":
        usage()
    supervise(parse_load(argv))


def parse_load(argv):
    obj = pin_dir = None
    pages = 8
    rest = argv[1:]
    if len(rest) % 2:
        usage()
    for flag, value in zip(rest[::2], rest[1::2]):
        if flag == "--object":
            obj = value
        elif flag == "--pin-dir":
            pin_dir = value
        elif flag == "--pages":
            try:
                pages = int(value)
            except ValueError:
                usage()
        else:
            usage()
    if not obj or not pin_dir or pages < 1:
        usage()
    return obj, pin_dir, pages


def load_command(args):
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    load(*args)


if __name__ == "__main__":
    main(sys.argv[1:])
