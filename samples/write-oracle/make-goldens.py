#!/usr/bin/env python3
"""Runs every oracle workload through the real qemu-io 7.2 in both cache modes and records the goldens:
the base image (when small), QEMU's normalised trace, the sha256 and size of QEMU's result image, and its
qemu-img check verdict. Usage: python3 samples/write-oracle/make-goldens.py [NAME...] (needs qemu-img and qemu-io);
with names, only those workloads are regenerated and the others' goldens are kept. With strace installed, each
mode also records qemu-io's fdatasync count; `--syncs` records only those, for every committed golden."""
import gzip, hashlib, json, os, re, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(__file__))
from workloads import WORKLOADS  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "goldens")
MODES = ["writeback", "writethrough"]


def normalise(lines):
    # Mirrors normaliseQemuTraceLine in engine/events/qemu-trace-format.ts.
    ids = {}
    out = []
    for line in lines:
        if not re.match(r"qcow2_\w+ (co|bs) ", line):
            continue
        def rep(m):
            role, ptr = m.group(1), m.group(2)
            if role == "pool":
                # Allocated per request and its address reused: only whether there is one is compared.
                return "pool (nil)" if ptr == "(nil)" else "pool *"
            if role == "qiov":
                return "qiov *"
            if role == "co":
                return "co *"
            key = role + ":" + ptr
            if key not in ids:
                ids[key] = role + str(sum(1 for k in ids if k.startswith(role + ":")))
            return role + " " + ids[key]
        line = re.sub(r"\b(co|bs|pool|qiov) (0x[0-9a-f]+|\(nil\))", rep, line)
        out.append(line.strip())
    return out


RERUNS = 6
STABILITY_RUNS = 2


def add_tasks(trace):
    return [line for line in trace if line.startswith("qcow2_add_task ")]


def counts(trace):
    c = {}
    for line in trace:
        k = line.split(" ", 1)[0]
        c[k] = c.get(k, 0) + 1
    return dict(sorted(c.items()))


def gz(path):
    """A gzip writer with a fixed timestamp, so regenerated goldens are byte-identical."""
    return gzip.GzipFile(filename="", mode="wb", fileobj=open(path, "wb"), mtime=0)


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def place(src, dst, sparse):
    """Copies a file. Sparse: every all-zero 4 KiB block becomes a hole (as `cp --sparse=always` does); the tests
    restore sparse workloads the same way (test/oracle/golden-files.ts), so QEMU and qcowdbg see the same holes."""
    if not sparse:
        shutil.copy(src, dst)
        return
    with open(src, "rb") as f, open(dst, "wb") as g:
        for block in iter(lambda: f.read(4096), b""):
            if block.count(0) == len(block):
                g.seek(len(block), os.SEEK_CUR)
            else:
                g.write(block)
        g.truncate()


def data_extents(path):
    """The file's data extents as SEEK_DATA/SEEK_HOLE report them."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size, off, out = os.fstat(fd).st_size, 0, []
        while off < size:
            try:
                d = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:
                break
            h = os.lseek(fd, d, os.SEEK_HOLE)
            out.append([d, h])
            off = h
        return out
    finally:
        os.close(fd)


def fdatasyncs(args, work, mdir, sparse=False):
    """How many fdatasync calls qemu-io makes for the workload (strace -f), on a fresh copy; None without strace."""
    if not shutil.which("strace"):
        return None
    again = os.path.join(mdir, "strace.qcow2")
    place(os.path.join(work, "base.qcow2"), again, sparse)
    log = os.path.join(mdir, "strace.log")
    # (qemu-io exits 1 when a command of the script fails, as some workloads mean it to.)
    subprocess.run(["strace", "-f", "-e", "trace=fdatasync", "-o", log] + args + [again], cwd=mdir, capture_output=True)
    with open(log) as f:
        n = sum(1 for line in f if re.search(r"\bfdatasync\(", line))
    os.remove(again)
    os.remove(log)
    return n


def record_syncs(m, args, work, mdir, sparse=False):
    """fdatasyncs: qemu-io's count; where requests split into concurrent chunks, fdatasyncs_runs holds the counts
    of several runs. QEMU merges flushes that overlap in time, so with concurrent chunks that flush the count can
    vary with thread-pool timing: such a workload is refused (make its requests serial), not compared loosely."""
    m["fdatasyncs"] = fdatasyncs(args, work, mdir, sparse)
    c = m["count_variants"][0]
    if m["fdatasyncs"] is not None and c.get("qcow2_writev_start_part") != c.get("qcow2_writev_start_req"):
        m["fdatasyncs_runs"] = sorted({m["fdatasyncs"]} | {fdatasyncs(args, work, mdir, sparse) for _ in range(3)})
        if len(m["fdatasyncs_runs"]) > 1:
            sys.exit(f"{os.path.basename(mdir)}: qemu-io's fdatasync count varies between runs ({m['fdatasyncs_runs']}): "
                     "make the workload's requests serial")


def holes_decide(w, args, work, trace):
    """A sparse workload must be one the holes decide: on whole copies QEMU's trace has to differ."""
    wdir = os.path.join(work, "whole")
    os.makedirs(wdir)
    for f in ["base.qcow2"] + w.get("files", []):
        shutil.copy(os.path.join(work, f), os.path.join(wdir, f if f != "base.qcow2" else "img.qcow2"))
    r = subprocess.run(args + [os.path.join(wdir, "img.qcow2")], cwd=wdir, capture_output=True, text=True)
    shutil.rmtree(wdir)
    if normalise(r.stderr.splitlines()) == trace:
        sys.exit(f"{w['name']}: QEMU decides the same on copies without holes; the workload tests nothing sparse")


def qemu_args(mode, cmds, opts=()):
    """qemu-io's command line; `opts`: a workload's own qemu-io options (-C: copy-on-read)."""
    args = ["qemu-io", "-f", "qcow2", "-t", mode, *opts, "--trace", "qcow2*"]
    for c in cmds:
        args += ["-c", c]
    return args


def syncs_only():
    """--syncs: record qemu-io's fdatasync count for every committed golden without regenerating anything else."""
    with open(os.path.join(OUT, "index.json")) as f:
        index = json.load(f)
    for entry in index["workloads"]:
        w = next(x for x in WORKLOADS if x["name"] == entry["name"])
        work = tempfile.mkdtemp()
        d = os.path.join(OUT, w["name"])
        for mode, m in entry["modes"].items():
            mdir = os.path.join(work, mode)
            os.makedirs(mdir)
            for f in ["base.qcow2"] + w.get("files", []):
                whole = os.path.join(work, f + ".whole")
                with gzip.open(os.path.join(d, f + ".gz")) as src, open(whole, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                place(whole, os.path.join(mdir if f != "base.qcow2" else work, f), w.get("sparse", False))
            record_syncs(m, qemu_args(mode, w["cmds"], w.get("opts", ())), work, mdir, w.get("sparse", False))
        shutil.rmtree(work)
        print(w["name"], {k: v["fdatasyncs"] for k, v in entry["modes"].items()})
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")


def main():
    if sys.argv[1:] == ["--syncs"]:
        return syncs_only()
    version = subprocess.run(["qemu-io", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    only = set(sys.argv[1:])
    unknown = only - {w["name"] for w in WORKLOADS}
    if unknown:
        sys.exit(f"unknown workload(s): {', '.join(sorted(unknown))}")
    kept = {}
    if only and os.path.exists(os.path.join(OUT, "index.json")):
        with open(os.path.join(OUT, "index.json")) as f:
            kept = {e["name"]: e for e in json.load(f)["workloads"]}
    else:
        shutil.rmtree(OUT, ignore_errors=True)
        os.makedirs(OUT)
    index = {"qemu": version, "workloads": []}
    for w in WORKLOADS:
        if only and w["name"] not in only and w["name"] in kept:
            index["workloads"].append(kept[w["name"]])
            continue
        d = os.path.join(OUT, w["name"])
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        work = tempfile.mkdtemp()
        for c in w["setup"]:
            subprocess.run(c, shell=True, cwd=work, check=True, stdout=subprocess.DEVNULL)
        for f in ["base.qcow2"] + w.get("files", []):
            with open(os.path.join(work, f), "rb") as src, gz(os.path.join(d, f + ".gz")) as dst:
                shutil.copyfileobj(src, dst)
        with open(os.path.join(d, "commands.qemu-io"), "w") as f:
            f.write("\n".join(w["cmds"]) + "\n")
        sparse = w.get("sparse", False)
        entry = {"name": w["name"], "files": w.get("files", []), "modes": {}}
        if sparse:
            entry["sparse"] = True
        if w.get("needs"):
            entry["needs"] = w["needs"]
        if w.get("opts"):
            entry["opts"] = w["opts"]
        # A workload that starts from a damaged image says so (qemu-img check's exit on the base image).
        base_check = subprocess.run(["qemu-img", "check", "base.qcow2"], cwd=work, capture_output=True).returncode
        if base_check:
            entry["base_check_exit"] = base_check
        for mode in w.get("modes", MODES):
            # Each mode runs on fresh copies in its own folder (an external data file is written too). The copies
            # are whole files (shutil.copy writes every byte) unless the workload is sparse, and the tests restore
            # them the same way: QEMU's metadata-preallocation probe and block status read the holes.
            mdir = os.path.join(work, mode)
            os.makedirs(mdir)
            img = os.path.join(mdir, "img.qcow2")
            place(os.path.join(work, "base.qcow2"), img, sparse)
            for f in w.get("files", []):
                place(os.path.join(work, f), os.path.join(mdir, f), sparse)
            args = qemu_args(mode, w["cmds"], w.get("opts", ()))
            r = subprocess.run(args + [img], cwd=mdir, capture_output=True, text=True)
            trace = normalise(r.stderr.splitlines())
            variants = [counts(trace)]
            multi = variants[0].get("qcow2_writev_start_part") != variants[0].get("qcow2_writev_start_req")
            if not multi:
                # A golden compared line for line must be what QEMU does every time: run it again and insist.
                for _ in range(STABILITY_RUNS):
                    again = os.path.join(mdir, "again.qcow2")
                    place(os.path.join(work, "base.qcow2"), again, sparse)
                    r2 = subprocess.run(args + [again], cwd=mdir, capture_output=True, text=True)
                    if normalise(r2.stderr.splitlines()) != trace or sha(again) != sha(img):
                        sys.exit(f"{w['name']} -t {mode}: QEMU's own trace or result differs between runs")
                    os.remove(again)
            if multi:
                # Requests that split run their chunks as concurrent coroutines in QEMU, and I/O completion order
                # (thread-pool timing) can change which coroutine takes s->lock first: record what QEMU does
                # over several runs. The requester's qcow2_add_task lines (pool, chunk offsets, qiov_offset) come
                # before any chunk can take the lock: they are compared in order when they never varied.
                tasks_stable = True
                trace_stable = True
                for _ in range(RERUNS):
                    again = os.path.join(mdir, "again.qcow2")
                    place(os.path.join(work, "base.qcow2"), again, sparse)
                    r2 = subprocess.run(args + [again], cwd=mdir, capture_output=True, text=True)
                    t2 = normalise(r2.stderr.splitlines())
                    c = counts(t2)
                    if c not in variants:
                        variants.append(c)
                    if add_tasks(t2) != add_tasks(trace):
                        tasks_stable = False
                    if t2 != trace:
                        trace_stable = False
                    os.remove(again)
            with gz(os.path.join(d, f"{mode}.trace.gz")) as f:
                f.write(("\n".join(trace) + "\n").encode())
            out = [l for l in r.stdout.splitlines() if "ops/sec" not in l]
            with open(os.path.join(d, f"{mode}.out"), "w") as f:
                f.write("\n".join(out) + "\n")
            # What qemu-io printed on stderr besides its trace (a corruption report, say): kept when there is any.
            err = [l for l in r.stderr.splitlines() if not re.match(r"^(\d+@[\d.]+:)?qcow2_\w+ (co|bs) ", l)]
            if err:
                with open(os.path.join(d, f"{mode}.err"), "w") as f:
                    f.write("\n".join(err) + "\n")
            chk = subprocess.run(["qemu-img", "check", img], capture_output=True, text=True, cwd=mdir)
            size = os.path.getsize(img)
            entry["modes"][mode] = {"sha256": sha(img), "size": size, "check_exit": chk.returncode, "trace_lines": len(trace),
                                    "count_variants": variants, "add_task_stable": (not multi) or tasks_stable,
                                    # Split requests whose whole trace QEMU repeated in every run are compared line for line.
                                    "trace_stable": (not multi) or trace_stable,
                                    "files_sha256": {f: sha(os.path.join(mdir, f)) for f in w.get("files", [])}}
            if sparse:
                entry["modes"][mode]["extents"] = {f: data_extents(os.path.join(mdir, f)) for f in ["img.qcow2"] + w.get("files", [])}
                holes_decide(w, args, work, trace)
            record_syncs(entry["modes"][mode], args, work, mdir, sparse)
            if size <= 512 * 1024:
                with open(img, "rb") as src, gz(os.path.join(d, f"{mode}.result.qcow2.gz")) as dst:
                    shutil.copyfileobj(src, dst)
        shutil.rmtree(work)
        index["workloads"].append(entry)
        print(w["name"], {m: entry["modes"][m]["trace_lines"] for m in entry["modes"]})
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
