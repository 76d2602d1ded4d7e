"""TLS material and tokens for the e2e tests: every test server runs with security on.

A test server gets a certificate signed by a CA made for this test process (openssl, once
per set of addresses), and an admin token it writes at its first start; the harness makes
a join token for its agents with the CLI, as an operator would.
"""

import atexit
import os
import shutil
import subprocess
import tempfile

_MATERIAL = {}  # tuple of addresses -> TlsMaterial
_ROOT = []


class TlsMaterial:
    def __init__(self, folder):
        self.folder = folder
        self.ca = os.path.join(folder, "ca.pem")
        self.ca_key = os.path.join(folder, "ca.key")
        self.cert = os.path.join(folder, "server.pem")
        self.key = os.path.join(folder, "server.key")


def _root():
    if not _ROOT:
        folder = tempfile.mkdtemp(prefix="runyard-e2e-tls-")
        atexit.register(shutil.rmtree, folder, True)
        _ROOT.append(folder)
    return _ROOT[0]


def _openssl(*args, cwd):
    done = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), done.stderr))


def make_ca(folder, name="runyard e2e CA"):
    """A CA key and self-signed certificate in `folder` (ca.key, ca.pem)."""
    os.makedirs(folder, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "3", "-subj", "/CN=" + name, cwd=folder)


def sign_server_cert(folder, addresses, ca_folder=None, start=None, end=None, stem="server"):
    """A key and certificate (stem.key, stem.pem) for `addresses` (IPs or DNS names),
    signed by the CA in `ca_folder` (default: `folder`). `start`/`end` (YYYYMMDDHHMMSSZ)
    set its validity, e.g. to make an expired one."""
    ca_folder = ca_folder or folder
    san = ",".join(("IP:" if _is_ip(a) else "DNS:") + a for a in addresses)
    with open(os.path.join(folder, stem + ".ext"), "w") as f:
        f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth,clientAuth\n" % san)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", stem + ".key", "-out", stem + ".csr", "-subj", "/CN=runyard-server", cwd=folder)
    ca = os.path.join(ca_folder, "ca.pem")
    ca_key = os.path.join(ca_folder, "ca.key")
    if start is None:
        _openssl("x509", "-req", "-in", stem + ".csr", "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                 "-out", stem + ".pem", "-days", "3", "-extfile", stem + ".ext", cwd=folder)
        return
    # `openssl ca` is the one that takes explicit dates.
    db = os.path.join(folder, stem + "-db")
    os.makedirs(db, exist_ok=True)
    open(os.path.join(db, "index.txt"), "w").close()
    with open(os.path.join(db, "ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=%s/index.txt\nnew_certs_dir=%s\n"
                "serial=%s/serial\ndefault_md=sha256\npolicy=p\ncopy_extensions=copy\n"
                "[p]\ncommonName=supplied\n" % (db, db, db))
    with open(os.path.join(db, "serial"), "w") as f:
        f.write("01\n")
    _openssl("ca", "-batch", "-config", os.path.join(db, "ca.cnf"), "-cert", ca, "-keyfile", ca_key,
             "-in", stem + ".csr", "-out", stem + ".pem", "-startdate", start, "-enddate", end,
             "-extfile", stem + ".ext", "-notext", cwd=folder)


def _is_ip(address):
    return address.replace(".", "").isdigit() or ":" in address


def tls_material(addresses=("127.0.0.1",)):
    """The test process's CA and a server certificate valid for `addresses` (and localhost)."""
    key = tuple(sorted(set(addresses) | {"127.0.0.1", "localhost", "::1"}))
    if key not in _MATERIAL:
        folder = os.path.join(_root(), "set%d" % len(_MATERIAL))
        os.makedirs(folder)
        if not os.path.exists(os.path.join(_root(), "ca.pem")):
            make_ca(_root())
        sign_server_cert(folder, key, ca_folder=_root())
        material = TlsMaterial(folder)
        material.ca = os.path.join(_root(), "ca.pem")
        material.ca_key = os.path.join(_root(), "ca.key")
        _MATERIAL[key] = material
    return _MATERIAL[key]


def ca_file():
    return tls_material().ca


def server_args(data_dir, addresses=("127.0.0.1",)):
    """runyard-server flags for TLS and its first admin token (in data_dir/admin-token)."""
    material = tls_material(addresses)
    return ["--tls-cert-file", material.cert, "--tls-key-file", material.key,
            "--admin-token-file", os.path.join(data_dir, "admin-token")]


def read_token(path):
    with open(path) as f:
        return f.read().strip()


class SecureServers:
    """What RunyardTestCase does for security: each server's tokens, and the flags and
    environment its agents and CLI calls need (needs the test case's run_cli, env,
    servers and tmp)."""

    def enroll(self, server):
        """Reads the admin token the server wrote at its first start and makes a join token
        for its agents (once per data dir, as an operator would with the CLI)."""
        server.admin_token = read_token(os.path.join(server.data_dir, "admin-token"))
        join = os.path.join(server.data_dir, "join-token")
        if not os.path.exists(join):
            self.run_cli(["tokens", "create", "--join", "--name", "e2e agents", "--output-file", join],
                         server=server, check=True)
        server.join_token_file = join

    def agent_security_args(self, server):
        """runyard-agent flags to reach `server` over TLS and join its pools."""
        known = self._server_of(server)
        args = ["--server-ca-file", ca_file()]
        if known is not None and known.join_token_file:
            args += ["--join-token-file", known.join_token_file]
        return args

    def unused_join_token(self):
        """A join token file for an agent that never reaches a server (well-formed, unknown)."""
        path = os.path.join(self.tmp, "unused-join-token")
        with open(path, "w") as f:
            f.write("ryj_000000000000_" + "A" * 43 + "\n")
        os.chmod(path, 0o600)
        return path

    def _server_of(self, server, env=None):
        """The Server object `server` names (an object, an address, or None: the one in
        RUNYARD_SERVER, else the first one started)."""
        if hasattr(server, "join_token_file"):  # a harness.Server
            return server
        if hasattr(server, "upstream"):  # a fault-injecting proxy in front of a server
            return self._server_of(server.upstream, env)
        address = server or (env or self.env).get("RUNYARD_SERVER")
        for candidate in self.servers:
            if address is None or candidate.address == address:
                return candidate
        return None

    def cli_env(self, server=None, env=None):
        """The CLI's environment for `server`: its admin token unless `env` sets
        RUNYARD_TOKEN itself (an empty value: no token)."""
        env = dict(env or self.env)
        if "RUNYARD_TOKEN" not in env:
            known = self._server_of(server, env)
            if known is not None and known.admin_token:
                env["RUNYARD_TOKEN"] = known.admin_token
        return env
