#!/usr/bin/env python3
"""Output upload: a run writes 1 GB into outputs/; how long until run history has all of it,
against `cp` of the same files on the same disk.

The script (writer.py) writes --files files totalling --mb MB into outputs/ (its
$RUNYARD_OUTPUT_DIR; a plain `outputs/` next to it when run without runyard) in 1 MiB
writes: one pseudo-random 1 MiB block (random.Random(8), so incompressible and the same in
every run), each chunk with its own file/chunk prefix so no two chunks are alike. No fsync,
as a training script saving a checkpoint does not. It records its own write time and the
wall-clock time (time.time()) of its first and last write in a file the bench names
(-e RESULT_FILE=...), as log_bench's writer does.

Each repetition, in this order, all in the same temporary directory (same disk as the
server's data dir and the agent's work dir):
  1. direct: the same script run by the bench without runyard (the cost of the write
     itself); then sync() so that its files are clean but still in the page cache.
  2. cp (baseline): `cp -r --reflink=never` of those files to another folder, timed
     without fsync, because runyard does not fsync either (no fsync/fdatasync anywhere in
     server/, common/, runtime/; the server's SQLite is synchronous=NORMAL and holds only
     the file list). A second row adds the `sync` after it (the copy written back to disk).
     The source is in the page cache, as the script's files are when the agent reads them.
  3. runyard: a local server + agent (remote pool, loopback) run the script. Upload time is
     Completed (server's history) - the script's last write (its own time.time(); same
     machine, same clock): how long the user waits for outputs after the script is done.
     Upload rate = bytes / that. Some bytes go out while the script still writes (the agent
     mirrors outputs/ live), so that rate is an upper bound; the row "script's first write
     → Completed" gives the lower bound (write + upload, no overlap credited).
     Also from history: Running → Completed and Finalizing → Completed (the wait for the
     final flush after the script exited).
Before steps 1 and 3 the bench syncs and, as root, drops the clean page cache (as
log_bench does), so both start from the same state; while the script writes the bench only
waits for its result file (no CLI processes on the 2 cores), then polls `runyard status`
every 0.2 s (the figures come from server history, not from the polls).
Checks: every outputs/ file is in run history (`runyard files --json`) with its full size
and complete; in --quick and on the first repetition the bench also downloads one file
(`runyard download`) and compares its SHA-256 with the directly written file. After each
repetition the run's outputs (agent's working dir and server's run files) and the baseline
copies are deleted, so the disk holds at most ~5× --mb at a time; the bench refuses to
start with less free space than that.
Usage: bench/upload_bench.py [--quick] [--repeat N] [--mb MB] [--files N]
"""
import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (PYTHON, TABLE_HEADER, bench_env, cli, machine, row, settle_page_cache,  # noqa: E402
                      start_agent, start_server, stop, wait_until, write_result, write_source)

WRITER = r'''
import json, os, random, time
count = int(os.environ["BENCH_FILES"])
size = int(os.environ["BENCH_FILE_BYTES"])
out_dir = os.environ.get("RUNYARD_OUTPUT_DIR", "outputs")
block = bytearray(random.Random(8).randbytes(1 << 20))
os.makedirs(out_dir, exist_ok=True)
first_wall = time.time()
start = time.perf_counter()
for j in range(count):
    with open(os.path.join(out_dir, "part-%03d.bin" % j), "wb") as f:
        written = chunk = 0
        while written < size:
            prefix = b"file %05d chunk %08d\n" % (j, chunk)
            block[:len(prefix)] = prefix
            n = min(len(block), size - written)
            f.write(memoryview(block)[:n])
            written += n
            chunk += 1
elapsed = time.perf_counter() - start
last_wall = time.time()
path = os.environ["RESULT_FILE"]
with open(path + ".tmp", "w") as f:
    json.dump({"elapsed": elapsed, "first_wall": first_wall, "last_wall": last_wall}, f)
os.rename(path + ".tmp", path)
'''

TERMINAL = ("Completed", "Failed", "Canceled")


def read_result(path, timeout=600):
    wait_until(lambda: os.path.exists(path), timeout, path, interval=0.02)
    with open(path) as f:
        return json.load(f)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="20 MB in 2 files, one repetition (CI smoke)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mb", type=int, default=1000, help="MB (10^6 bytes) written to outputs/ per run")
    parser.add_argument("--files", type=int, default=4, help="files the MB are split into")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    mb = 20 if args.quick and args.mb == 1000 else args.mb
    files = 2 if args.quick and args.files == 4 else args.files
    file_bytes = mb * 1000 * 1000 // files
    total = file_bytes * files

    work = tempfile.mkdtemp(prefix="runyard-bench-upload-")
    procs = []
    try:
        # At most: the script's files, the agent's spool, the server's copy, the direct
        # baseline's files and their cp copy.
        needed = 5 * total + (256 << 20)
        free = shutil.disk_usage(work).free
        if free < needed:
            print(f"upload_bench: {free / 1e9:.1f} GB free under {work}, needs about {needed / 1e9:.1f} GB "
                  f"(5 copies of {total / 1e9:.2f} GB: the run's files, the agent's spool, the server's copy, "
                  f"the direct baseline and its cp); use --mb to write less", file=sys.stderr)
            return 2
        env = bench_env(work)
        source = write_source(os.path.join(work, "src"), {"writer.py": WRITER})
        server_dir, agent_dir = os.path.join(work, "server"), os.path.join(work, "agent")
        procs.append(start_server(server_dir, env))
        procs.append(start_agent(agent_dir, "bench", env, "--slots", "1"))

        def direct(name, count, size):
            folder = os.path.join(work, name)
            os.makedirs(folder, exist_ok=True)
            result_file = os.path.join(work, f"{name}.result")
            run_env = dict(env, BENCH_FILES=str(count), BENCH_FILE_BYTES=str(size), RESULT_FILE=result_file)
            run_env.pop("RUNYARD_OUTPUT_DIR", None)
            subprocess.run([PYTHON, os.path.join(source, "writer.py")], cwd=folder, env=run_env, check=True)
            return read_result(result_file)["elapsed"], os.path.join(folder, "outputs")

        def under_runyard(name, count, size, check_sha_against=None):
            result_file = os.path.join(work, f"{name}.result")
            run_id = json.loads(cli(["submit", "--json", "--target", "bench", "--source-directory", source,
                                     "--script", "writer.py", "--interpreter", PYTHON,
                                     "-e", f"BENCH_FILES={count}", "-e", f"BENCH_FILE_BYTES={size}",
                                     "-e", f"RESULT_FILE={result_file}"], env).stdout)["run_id"]
            # Quiet while the script writes (see the docstring), then poll the server.
            result = read_result(result_file)
            run = wait_until(lambda: (lambda r: r if r["status"] in TERMINAL else None)(
                json.loads(cli(["status", run_id, "--json"], env).stdout)), 900, f"{run_id} to end", interval=0.2)
            if run["status"] != "Completed":
                raise RuntimeError(f"{run_id} ended {run['status']}: {run.get('error')}")
            listed = {e["path"]: e for e in json.loads(cli(["files", run_id, "--json"], env).stdout)}
            for j in range(count):
                path = "outputs/part-%03d.bin" % j
                entry = listed.get(path)
                if not entry or int(entry["size"]) != size or entry.get("complete") is not True:
                    raise RuntimeError(f"{run_id}: run history has {entry} for {path}, expected {size} bytes, "
                                       f"complete")
            if check_sha_against:
                downloaded = os.path.join(work, "downloaded.bin")
                cli(["download", run_id, "outputs/part-000.bin", "-o", downloaded], env)
                if sha256_of(downloaded) != sha256_of(check_sha_against):
                    raise RuntimeError(f"{run_id}: outputs/part-000.bin downloaded differs from what the script "
                                       f"writes")
                os.unlink(downloaded)
            times = {e["status"]: e["time_unix_ms"] / 1000 for e in run["history"]}
            # The run is over: free its disk (agent's working dir, server's run files).
            shutil.rmtree(os.path.join(agent_dir, "runs", run_id, "wd", "outputs"), ignore_errors=True)
            shutil.rmtree(os.path.join(server_dir, "runs", run_id, "outputs"), ignore_errors=True)
            return {"write": result["elapsed"],
                    "tail": times["Completed"] - result["last_wall"],
                    "first_write_to_completed": times["Completed"] - result["first_wall"],
                    "running_to_completed": times["Completed"] - times["Running"],
                    "finalizing_to_completed": times["Completed"] - times.get("Finalizing", times["Completed"])}

        # Warm-up (not counted): interpreter, connections, the node's snapshot cache.
        under_runyard("warmup", 2, 1 << 20)
        direct("direct-warmup", 2, 1 << 20)

        writes, copies, copies_synced, runs = [], [], [], []
        for i in range(repeat):
            settle_page_cache()
            write_s, outputs = direct(f"direct-{i}", files, file_bytes)
            writes.append(write_s)
            os.sync()  # the direct files clean (still cached): the sync below is the copy's alone
            copy_dir = os.path.join(work, f"cp-{i}")
            os.makedirs(copy_dir)
            t0 = time.perf_counter()
            subprocess.run(["cp", "-r", "--reflink=never", outputs, copy_dir], check=True)
            t1 = time.perf_counter()
            os.sync()
            t2 = time.perf_counter()
            copies.append(t1 - t0)
            copies_synced.append(t2 - t0)

            settle_page_cache()
            runs.append(under_runyard(f"run-{i}", files, file_bytes,
                                      os.path.join(outputs, "part-000.bin") if i == 0 else None))
            shutil.rmtree(os.path.dirname(outputs), ignore_errors=True)
            shutil.rmtree(copy_dir, ignore_errors=True)
            r = runs[-1]
            print(f"  rep {i + 1}: direct write {write_s:.2f} s, cp {copies[-1]:.2f} s (+sync "
                  f"{copies_synced[-1]:.2f} s); runyard: write {r['write']:.2f} s, end → Completed "
                  f"{r['tail']:.2f} s, Running → Completed {r['running_to_completed']:.2f} s", file=sys.stderr)

        med = statistics.median
        base = med(copies)

        def mbs(values):
            return f"{total / 1e6 / med(values):,.0f} MB/s"

        tail = [r["tail"] for r in runs]
        lines = [
            f"## Output upload ({total / 1e6:,.0f} MB in {files} files in outputs/, 1 MiB writes; {machine()}; "
            f"loopback; median of {repeat})",
            "",
            TABLE_HEADER[0], TABLE_HEADER[1],
            row("script writes the files directly (no runyard)", writes, base,
                f"{mbs(writes)}. the write itself, into the page cache, no fsync"),
            row("`cp -r` of the same files, same disk (baseline)", copies, base,
                f"{mbs(copies)}. source in the page cache; no fsync (runyard does not fsync either)"),
            row("`cp -r`, then `sync`", copies_synced, base, f"{mbs(copies_synced)}. the copy written back to disk"),
            row("under runyard: script's own write time", [r["write"] for r in runs], base,
                mbs([r["write"] for r in runs])),
            row("under runyard: script's last write → Completed (upload)", tail, base,
                f"{mbs(tail)}: the upload rate. every byte in run history"),
            row("under runyard: script's first write → Completed", [r["first_write_to_completed"] for r in runs],
                base, f"{mbs([r['first_write_to_completed'] for r in runs])}. write + upload"),
            row("under runyard: Running → Completed", [r["running_to_completed"] for r in runs], base,
                "from server history"),
            row("under runyard: Finalizing → Completed", [r["finalizing_to_completed"] for r in runs], base,
                "the wait for the final flush after the script exited"),
            "",
            f"upload rate: {mbs(tail)} (bytes / (Completed − the script's last write)), "
            f"{med(tail) / base:.2f}× the time of `cp -r` of the same files ({mbs(copies)}; "
            f"{med(tail) / med(copies_synced):.2f}× cp + sync). The issue sets no target for this figure. "
            f"Every outputs/ file was in run history with its full size and complete after each run; "
            f"`runyard download` of outputs/part-000.bin matched the directly written file (SHA-256, first "
            f"repetition). Server, agent, script and baselines on the same disk "
            f"({subprocess.run(['df', '--output=fstype', work], capture_output=True, text=True).stdout.split()[-1]}); "
            f"page cache settled before the direct write and before each run; one small warm-up run not counted.",
        ]
        write_result("upload.md", "\n".join(lines), args.quick)
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
