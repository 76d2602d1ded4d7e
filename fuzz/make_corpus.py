#!/usr/bin/env python3
"""Regenerates the seed corpus in fuzz/corpus/ (deterministic; standard library only).

archive/: small tars, mostly uncompressed so mutations land on tar headers (the
end-of-archive padding is cut off: libarchive accepts a tar that ends after an entry).
manifest/: serialized runyard.v1.SnapshotManifest messages, encoded by hand.
spec/: run spec YAML files (valid ones of every section, and typical mistakes).
request/: a selector byte and a serialized SubmitRequest, ReportRequest or RegisterRequest,
encoded by hand (see request_limits_fuzzer.cc for the layout).
"""
import gzip
import hashlib
import io
import os
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))


def tar_bytes(members, fmt=tarfile.USTAR_FORMAT, strip=True):
    """members: (TarInfo, data or None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in members:
            info.mtime = 0
            info.uname = info.gname = ""
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    raw = buf.getvalue()
    if strip:
        raw = raw.rstrip(b"\0")
        raw += b"\0" * (-len(raw) % 512)
    return raw


def old_gnu_sparse_tar(name, realsize, offset, data):
    """An old-GNU sparse ('S') file: the map sits in fixed octal fields of the header,
    where single-byte mutations reach it."""
    info = entry(name)
    info.size = len(data)
    info.mtime = 0
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    header[156:157] = b"S"
    header[386:398] = b"%011o\0" % offset        # sp[0].offset
    header[398:410] = b"%011o\0" % len(data)     # sp[0].numbytes
    header[483:495] = b"%011o\0" % realsize      # realsize
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header) + data + b"\0" * (-len(data) % 512)


def entry(name, kind=tarfile.REGTYPE, mode=0o644, link=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = link
    return info


def archives():
    valid = [
        (entry("src", tarfile.DIRTYPE, 0o755), None),
        (entry("src/main.py"), b"print('hi')\n"),
        (entry("run.sh", mode=0o755), b"#!/bin/sh\necho ok\n"),
        (entry("empty", tarfile.DIRTYPE, 0o755), None),
    ]
    yield "valid.tar", tar_bytes(valid)
    yield "valid.tar.gz", gzip.compress(tar_bytes(valid, fmt=tarfile.PAX_FORMAT, strip=False), mtime=0)
    yield "implied_parents.tar", tar_bytes([(entry("./a/b/c.txt"), b"c\n")])
    yield "dotdot.tar", tar_bytes([(entry("../escaped"), b"x")])
    yield "absolute.tar", tar_bytes([(entry("/tmp/runyard-escaped"), b"x")])
    yield "symlink.tar", tar_bytes([(entry("link", tarfile.SYMTYPE, 0o777, "/etc"), None),
                                    (entry("link/passwd"), b"x")])
    yield "hardlink.tar", tar_bytes([(entry("a"), b"a"), (entry("b", tarfile.LNKTYPE, link="a"), None)])
    yield "setuid.tar", tar_bytes([(entry("suid", mode=0o4755), b"x")])
    yield "fifo.tar", tar_bytes([(entry("fifo", tarfile.FIFOTYPE), None)])
    yield "duplicate.tar", tar_bytes([(entry("a"), b"1"), (entry("a"), b"2")])
    yield "old_gnu_sparse.tar", old_gnu_sparse_tar("sparse", 16, 8, b"abcd")
    yield "pax_path.tar", tar_bytes([(entry("p/" + "n" * 120), b"long")], fmt=tarfile.PAX_FORMAT)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number, wire, payload):
    key = varint(number << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


def manifest_entry(path, mode, size=0, digest="", directory=False):
    out = field(1, 2, path.encode())
    out += field(2, 0, mode)
    if size:
        out += field(3, 0, size)
    if digest:
        out += field(4, 2, digest.encode())
    if directory:
        out += field(5, 0, 1)
    return out


def manifest(entries):
    return b"".join(field(1, 2, e) for e in entries)


def manifests():
    d1 = hashlib.sha256(b"print('hi')\n").hexdigest()
    d2 = hashlib.sha256(b"#!/bin/sh\necho ok\n").hexdigest()
    yield "valid.pb", manifest([
        manifest_entry("empty", 0o755, directory=True),
        manifest_entry("run.sh", 0o755, 18, d2),
        manifest_entry("src/main.py", 0o644, 12, d1),
    ])
    yield "empty.pb", b""
    yield "unsorted.pb", manifest([manifest_entry("b", 0o644, 1, d1), manifest_entry("a", 0o644, 1, d1)])
    yield "dotdot.pb", manifest([manifest_entry("../x", 0o644, 1, d1)])
    yield "setuid.pb", manifest([manifest_entry("x", 0o4755, 1, d1)])
    yield "file_is_folder.pb", manifest([manifest_entry("a", 0o644, 1, d1), manifest_entry("a/b", 0o644, 1, d2)])


FULL_SPEC = b"""experiment: quickstart
display_name: first try
source_directory: src
script: train.py
arguments: [--epochs, 40, --lr, 1.0]
compute_target: cpu
max_run_duration_seconds: 600
environment:
  name: debian-python
  python:
    user_managed_dependencies: true
    interpreter_path: /usr/bin/python3
    pip_packages: [numpy, torch]
  environment_variables:
    SEED: "7"
    API_TOKEN: hunter2
  secret_variables: [SEED]
resources:
  cpus: 0.5
  memory_mb: 512
  gpus: 1
tags:
  owner: alice
successful_return_codes: [0, 3]
azureml_compat: false
"""


def specs():
    yield "full.yaml", FULL_SPEC
    yield "command.yaml", b"command: [python3, -c, 'print(1)']\ncompute_target: local\n"
    yield "pytorch.yaml", (b"script: train.py\ndistributed_job_config:\n  pytorch:\n"
                           b"    process_count: 4\n    node_count: 2\n    communication_backend: gloo\n")
    yield "mpi.yaml", (b"script: train.py\ndistributed_job_config:\n  mpi:\n"
                       b"    process_count_per_node: 2\n    node_count: 2\n")
    yield "tensorflow.yaml", (b"script: train.py\ndistributed_job_config:\n  tensorflow:\n"
                              b"    worker_count: 2\n    parameter_server_count: 1\n    node_count: 1\n")
    yield "flow.yaml", b"{script: a.py, tags: {a: b}, environment: {python: {pip_packages: [x]}}}\n"
    yield "anchors.yaml", b"tags: &t {a: b}\nscript: &s a.py\ndisplay_name: *s\n"
    yield "unknown_field.yaml", b"script: a.py\nscirpt: b.py\n"
    yield "wrong_type.yaml", b"script: [a.py]\nresources: {cpus: many}\n"
    yield "big_number.yaml", b"script: a.py\nmax_run_duration_seconds: 99999999999999999999\n"
    yield "not_yaml.yaml", b"script: 'a.py\n  - ]\n"
    yield "empty.yaml", b""


def request(kind, message, replace=b""):
    """kind: 0 SubmitRequest, 1 ReportRequest, 2 RegisterRequest, | 0x8 for the higher
    nesting limit; replace: raw bytes that replace the message's first string."""
    if not replace:
        return bytes([kind]) + message
    return bytes([kind | 0x4, len(replace)]) + replace + message


def requests():
    python = field(4, 2, b"numpy") + field(4, 2, b"torch")
    environment = field(1, 2, b"env") + field(2, 2, python) + \
        field(3, 2, field(1, 2, b"SEED") + field(2, 2, b"7")) + field(4, 2, b"SEED")
    spec = (field(1, 2, b"exp") + field(3, 2, b"train.py") + field(5, 2, b"--epochs") +
            field(5, 2, b"40") + field(6, 2, b"cpu") + field(8, 2, environment) +
            field(10, 2, field(1, 2, b"owner") + field(2, 2, b"alice")) +
            field(16, 2, field(1, 2, field(1, 0, 4) + field(2, 0, 2))))
    yield "submit.pb", request(0, field(1, 2, spec))
    yield "submit_deeper.pb", request(0x8, field(1, 2, spec))
    yield "submit_bad_utf8.pb", request(0, field(1, 2, spec), replace=b"\xc3\x28")
    lease = field(1, 2, b"run-1") + field(2, 2, b"lease-1") + field(3, 0, 7)
    append = field(1, 2, lease) + field(2, 2, b"user_logs/std_log.txt") + field(3, 0, 0) + \
        field(4, 2, b"hello\n")
    status = field(1, 2, lease) + field(2, 0, 7) + \
        field(5, 2, field(1, 2, b"UserError") + field(2, 2, b"exit code 1")) + \
        field(7, 2, field(1, 0, 0) + field(3, 0, 1))
    report = field(1, 2, field(1, 2, append)) + field(1, 2, field(2, 2, status))
    yield "report.pb", request(1, report)
    yield "report_deeper.pb", request(1 | 0x8, report)
    labels = field(1, 2, b"zone") + field(2, 2, b"a")
    capabilities = field(1, 0, 8) + field(2, 0, 1 << 30) + \
        field(3, 2, field(1, 0, 0) + field(2, 2, b"NVIDIA H100") + field(4, 2, b"GPU-1")) + \
        field(4, 2, labels)
    register = field(1, 2, b"node1") + field(2, 2, b"gpu") + field(3, 0, 2) + \
        field(4, 2, b"host1") + field(6, 2, capabilities) + field(7, 2, b"10.0.0.5")
    yield "register.pb", request(2, register)
    yield "register_long_key.pb", request(2, field(6, 2, field(4, 2, field(1, 2, b"k" * 40))))


def main():
    for sub, items in (("archive", archives()), ("manifest", manifests()), ("spec", specs()),
                       ("request", requests())):
        folder = os.path.join(HERE, "corpus", sub)
        os.makedirs(folder, exist_ok=True)
        for name, data in items:
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
