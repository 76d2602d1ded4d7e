#!/usr/bin/env python3
"""The CLI's cost per command with security on: CPU (user + system) of one `runyard`
process per command, over TLS with a token, against the same command over plaintext on
loopback (the same binaries; the server started with --insecure-plaintext) as baseline,
and `runyard --help` (no connection at all). Each command is a fresh process, as a user's
or a CI script's is: TLS set-up (OpenSSL's context, the handshake) is paid every time.

Usage: bench/cli_cost_bench.py [--quick] [--repeat N]
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (PYTHON, RUNYARD, SERVER, bench_env, cli, machine, security, start, start_server,  # noqa: E402
                      stop, write_result, write_source)


def children_cpu_ms():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000


def cpu_per_command(args, env, repeat):
    """CPU ms of each of `repeat` runs of `runyard ARGS` (every one must succeed)."""
    values = []
    for _ in range(repeat):
        before = children_cpu_ms()
        cli(args, env)
        values.append(children_cpu_ms() - before)
    return values


def plaintext_server(data_dir, env):
    """The same server on loopback without TLS (--insecure-plaintext), with its admin token."""
    proc, m = start([SERVER, "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--insecure-plaintext",
                     "--admin-token-file", os.path.join(data_dir, "admin-token")], r"listening on (\S+)", env)
    plain = dict(env, RUNYARD_SERVER=m.group(1), RUNYARD_INSECURE="1",
                 RUNYARD_TOKEN=security.read_token(os.path.join(data_dir, "admin-token")))
    plain.pop("RUNYARD_CA_FILE", None)
    return proc, plain


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    repeat = 5 if args.quick else args.repeat
    work = tempfile.mkdtemp(prefix="runyard-bench-cli-")
    procs = []
    try:
        tls_env = bench_env(work)
        procs.append(start_server(os.path.join(work, "server-tls"), tls_env))
        proc, plain_env = plaintext_server(os.path.join(work, "server-plain"), bench_env(work))
        procs.append(proc)
        source = write_source(os.path.join(work, "src"), {"tiny.py": "pass\n"})
        rows = []
        for name, env in (("plaintext", plain_env), ("tls", tls_env)):
            # A run queued in a pool no agent serves: status reads it.
            run = json.loads(cli(["submit", "--json", "--target", "nobody", "--source-directory", source,
                                  "--script", "tiny.py", "--interpreter", PYTHON], env).stdout)["run_id"]
            rows.append((name, "status", cpu_per_command(["status", run, "--json"], env, repeat)))
            rows.append((name, "list", cpu_per_command(["list", "--limit", "5", "--json"], env, repeat)))
        help_ms = cpu_per_command(["--help"], tls_env, repeat)

        base = {command: statistics.median(v) for name, command, v in rows if name == "plaintext"}
        lines = [f"CLI CPU per command, one process each ({machine()}, {repeat} runs each; ms of user + system CPU)",
                 "", "| command | transport | median ms | min | max | vs plaintext |", "|---|---|---|---|---|---|"]
        for name, command, values in rows:
            med = statistics.median(values)
            ratio = "" if name == "plaintext" else f"{med / base[command]:.2f}× (+{med - base[command]:.1f} ms)"
            lines.append(f"| {command} | {name} | {med:.1f} | {min(values):.1f} | {max(values):.1f} | {ratio} |")
        lines.append(f"| --help | none | {statistics.median(help_ms):.1f} | {min(help_ms):.1f} | "
                     f"{max(help_ms):.1f} | no connection: the floor of a command |")
        write_result("cli_cost.md", "\n".join(lines), args.quick)
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
