#!/usr/bin/env python3
"""Environment benchmark: the Preparing phase of a run with a pip environment, built
(new definition) vs found in the node cache (same definition), next to the baseline of
building the same venv by hand (python3 -m venv + pip install).

Real server and agent on 127.0.0.1; the package comes from a local wheelhouse this script
writes (no index). Usage: bench/environment_bench.py [--quick] [--repeat N]
"""
import argparse
import base64
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (TABLE_HEADER, cli, machine, phase_seconds, row, start_agent,  # noqa: E402
                      start_server, stop, timed, write_result)

PYTHON = "/usr/bin/python3"


def write_wheel(folder, name, version="1.0"):
    """A minimal pure-Python wheel (a zip with dist-info), as pip accepts it."""
    files = {
        f"{name}/__init__.py": f"VERSION = '{version}'\n".encode(),
        f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{name}-{version}.dist-info/WHEEL":
            b"Wheel-Version: 1.0\nGenerator: runyard-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
              f"{len(data)}" for path, data in files.items()]
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    with zipfile.ZipFile(os.path.join(folder, f"{name}-{version}-py3-none-any.whl"), "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
        wheel.writestr(f"{name}-{version}.dist-info/RECORD", "\n".join(record) + "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one repetition (CI smoke)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat

    work = tempfile.mkdtemp(prefix="runyard-bench-env-")
    procs = []
    try:
        env = dict(os.environ)
        env["RUNYARD_HOME"] = os.path.join(work, "home")
        wheels = os.path.join(work, "wheels")
        os.makedirs(wheels)
        for i in range(repeat):
            write_wheel(wheels, f"runyardbench{i}")
        procs.append(start_server(os.path.join(work, "server"), env))
        procs.append(start_agent(os.path.join(work, "agent"), "bench", env,
                                 "--pip-find-links", wheels, "--pip-no-index"))

        def run(package):
            source = os.path.join(work, f"src-{package}")
            os.makedirs(source, exist_ok=True)
            with open(os.path.join(source, "requirements.txt"), "w") as f:
                f.write(f"{package}==1.0\n")
            with open(os.path.join(source, "main.py"), "w") as f:
                f.write(f"import {package}\nprint({package}.VERSION)\n")
            with open(os.path.join(source, "run.yaml"), "w") as f:
                f.write("script: main.py\ncompute_target: bench\nenvironment:\n  python:\n"
                        f"    interpreter_path: {PYTHON}\n    pip_requirements_file: requirements.txt\n")
            done = json.loads(cli(["submit", os.path.join(source, "run.yaml"), "--wait", "--json"], env).stdout)
            if done["status"] != "Completed":
                raise RuntimeError(f"run failed: {done}")
            return phase_seconds(done, "Preparing", "Starting")

        built, cached = [], []
        for i in range(repeat):
            built.append(run(f"runyardbench{i}"))
            cached.append(run(f"runyardbench{i}"))

        by_hand = []
        for i in range(repeat):
            venv = os.path.join(work, f"by-hand-{i}")
            t, _ = timed(lambda: (
                subprocess.run([PYTHON, "-m", "venv", venv], check=True),
                subprocess.run([os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q",
                                "--disable-pip-version-check", "--no-index", "--find-links", wheels,
                                f"runyardbench{i}==1.0"], check=True)))
            by_hand.append(t)
            shutil.rmtree(venv)

        lines = [f"## Environment benchmark (pip venv from a local wheelhouse; {machine()}; median of {repeat})",
                 "", *TABLE_HEADER,
                 row("venv + pip install by hand (baseline)", by_hand),
                 row("Preparing, new environment (built)", built, baseline=statistics.median(by_hand),
                     extra="ratio to by hand"),
                 row("Preparing, same definition (node cache)", cached, baseline=statistics.median(built),
                     extra="ratio to built"),
                 "",
                 f"cache hit is {statistics.median(built) / max(statistics.median(cached), 1e-6):.0f}× faster "
                 f"than a build"]
        write_result("environment.md", "\n".join(lines), args.quick)
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
