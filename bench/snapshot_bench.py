#!/usr/bin/env python3
"""Snapshot benchmark: what moving a source tree costs, next to its baselines.

In one run, on a tree of 1,000 files / 200 MB of random bytes:
  - full upload (empty server) vs incremental resubmit (one 100 KB file changed) vs an
    unchanged resubmit: wall time and bytes sent, from `runyard snapshot upload --json`;
  - cold materialization on the agent (empty node cache: fetch + write the tree) vs
    `tar -xf` of the same tree (baseline), and warm materialization (cache hit),
    from the run's system log line the runtime writes.
Real binaries, real sockets on 127.0.0.1. Usage: bench/snapshot_bench.py [--quick] [--repeat N]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (TABLE_HEADER, cli, machine, row, start_agent, start_server, stop,  # noqa: E402
                      timed, write_result)


def make_tree(path, files, total_bytes):
    size = total_bytes // files
    for i in range(files):
        folder = os.path.join(path, f"d{i % 10}")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"f{i}.bin"), "wb") as f:
            f.write(os.urandom(size))
    with open(os.path.join(path, "main.py"), "w") as f:
        f.write("print('ok')\n")
    # Old mtimes, as a real checkout has: the client's digest cache may trust them.
    past = time.time() - 3600
    for folder, _, names in os.walk(path):
        for name in names:
            os.utime(os.path.join(folder, name), (past, past))


def median(values):
    return statistics.median(values)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny tree, one repetition (CI smoke)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    files, total = (100, 2_000_000) if args.quick else (1000, 200_000_000)
    repeat = 1 if args.quick else args.repeat

    work = tempfile.mkdtemp(prefix="runyard-bench-snapshot-")
    procs = []
    try:
        env = dict(os.environ)
        env["RUNYARD_HOME"] = os.path.join(work, "home")
        env.pop("RUNYARD_SERVER", None)
        tree = os.path.join(work, "tree")
        make_tree(tree, files, total)

        procs.append(start_server(os.path.join(work, "server"), env,
                                  "--max-snapshot-mb", "100000", "--max-snapshot-files", "1000000"))
        agent_dir = os.path.join(work, "agent")
        procs.append(start_agent(agent_dir, "bench", env))

        upload = ["snapshot", "upload", "--target", "bench", "--source-directory", tree, "--json"]
        full_t, full = timed(lambda: json.loads(cli(upload, env).stdout))
        incremental_t, incremental_bytes = [], []
        for i in range(repeat):
            with open(os.path.join(tree, "d0", f"f{i * 10}.bin"), "wb") as f:
                f.write(os.urandom(100_000))
            t, report = timed(lambda: json.loads(cli(upload, env).stdout))
            incremental_t.append(t)
            incremental_bytes.append(report["uploaded_bytes"])
        unchanged_t, unchanged_bytes = [], []
        for _ in range(repeat):
            t, report = timed(lambda: json.loads(cli(upload, env).stdout))
            unchanged_t.append(t)
            unchanged_bytes.append(report["uploaded_bytes"])

        # Materialization, measured by the runtime itself on the agent.
        def run_once():
            submitted = json.loads(cli(["submit", "--target", "bench", "--source-directory", tree,
                                        "--script", "main.py", "--interpreter", "/usr/bin/python3",
                                        "--wait", "--json"], env).stdout)
            log = cli(["download", submitted["run_id"], "system_logs/runtime.txt", "-o",
                       os.path.join(work, "runtime.txt")], env)
            del log
            with open(os.path.join(work, "runtime.txt")) as f:
                text = f.read()
            m = re.search(r"fetched (\d+) blobs \((\d+) bytes\) in (\d+) ms.*materialized in (\d+) ms", text)
            return int(m.group(1)), int(m.group(2)), int(m.group(3)) / 1000, int(m.group(4)) / 1000

        cold, warm = [], []
        for _ in range(repeat):
            shutil.rmtree(os.path.join(agent_dir, "cas"), ignore_errors=True)
            blobs, fetched, fetch_s, write_s = run_once()
            cold.append(fetch_s + write_s)
            blobs, fetched, fetch_s, write_s = run_once()
            warm.append(fetch_s + write_s)

        # Baseline: tar -xf of the same tree (the archive is made outside the timing).
        archive = os.path.join(work, "tree.tar")
        subprocess.run(["tar", "-cf", archive, "-C", tree, "."], check=True)
        tar_x = []
        for i in range(repeat):
            dest = os.path.join(work, f"untar{i}")
            os.makedirs(dest)
            t, _ = timed(lambda: subprocess.run(["tar", "-xf", archive, "-C", dest], check=True))
            tar_x.append(t)
            shutil.rmtree(dest)

        lines = [
            f"## Snapshot benchmark ({files:,} files, {total / 1e6:.0f} MB; {machine()}; "
            f"median of {repeat})",
            "",
            *TABLE_HEADER,
            row("full upload (empty server)", [full_t], extra=f"{full['uploaded_bytes']:,} B"),
            row("incremental resubmit (one 100 KB file changed)", incremental_t, baseline=full_t,
                extra=f"{median(incremental_bytes):,.0f} B (blob + manifest)"),
            row("unchanged resubmit", unchanged_t, baseline=full_t, extra=f"{median(unchanged_bytes):,.0f} B"),
            row("tar -xf of the same tree (baseline)", tar_x),
            row("cold materialization on the agent (fetch + write)", cold, baseline=median(tar_x)),
            row("warm materialization (node cache hit)", warm, baseline=median(cold), extra="ratio to cold"),
            "",
            f"full / incremental: {full_t / median(incremental_t):.1f}×; "
            f"cold / tar -xf: {median(cold) / median(tar_x):.2f}×; cold / warm: {median(cold) / median(warm):.1f}×",
        ]
        write_result("snapshot.md", "\n".join(lines), args.quick)
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
