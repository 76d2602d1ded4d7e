"""Acceptance of trust (issue 17) with the real server, agent and CLI: tokens and roles,
agents that join with a join token, revocation, secrets that never reach a log, and TLS
that refuses what it must. The finer rules (every RPC, another agent's lease, a run token
on another run) are checked over the wire in tests/unit/access_wire_test.cc."""
import json
import os
import stat
import textwrap
import unittest

import harness
import security
from harness import PYTHON

class TokensAndRolesTest(harness.RunyardTestCase):
    """Acceptance 1: no token, a wrong one, or a read-only one cannot submit or cancel."""

    def make_token(self, server, role, name):
        path = os.path.join(self.tmp, "token-" + name)
        self.run_cli(["tokens", "create", "--name", name, "--role", role, "--output-file", path],
                     server=server, check=True)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        self.assertEqual(mode, 0o600, "token file mode %o" % mode)
        return security.read_token(path)

    def submit_args(self, source, target="cpu"):
        return ["submit", "--json", "--source-directory", source, "--script", "hello.py",
                "--interpreter", PYTHON, "--target", target]

    def test_refusals_change_nothing(self):
        server = self.start_server()
        source = self.source_dir("hello.py")
        reader = self.make_token(server, "reader", "viewer")
        queued = self.submit(self.submit_args(source)[2:], server=server)  # the admin's run
        before = self.list_runs(server=server)

        cases = {
            "no token": ("", "UNAUTHENTICATED", "no token"),
            "wrong token": ("ryu_0123456789ab_" + "B" * 43, "UNAUTHENTICATED", "not known"),
            "malformed token": ("hunter2", "UNAUTHENTICATED", "token"),
            "read-only token": (reader, "PERMISSION_DENIED", "reader"),
        }
        for case, (token, code, words) in cases.items():
            with self.subTest(case):
                env = dict(self.env, RUNYARD_TOKEN=token)
                rc, out, err = self.run_cli(self.submit_args(source), server=server, env=env)
                self.assertNotEqual(rc, 0, out)
                self.assertIn(words, err.lower() if words.islower() else err, err)
                rc, out, err = self.run_cli(["cancel", queued["run_id"]], server=server, env=env)
                self.assertNotEqual(rc, 0, out)
        # Nothing queued, nothing canceled.
        self.assertEqual(self.list_runs(server=server), before)
        self.assertEqual(self.status(queued["run_id"], server=server)["status"], "Queued")

        # The reader may read: list and status work with its token.
        env = dict(self.env, RUNYARD_TOKEN=reader)
        rc, out, err = self.run_cli(["status", queued["run_id"], "--json"], server=server, env=env)
        self.assertEqual(rc, 0, err)

        # The audit names who submitted and who was denied.
        events = self.cli_json(["audit", "--limit", "100"], server=server)
        actions = [event["action"] for event in events]
        self.assertIn("submit", actions)
        self.assertIn("denied", actions)
        run = self.status(queued["run_id"], server=server)
        self.assertIn("bootstrap admin", run["submitted_by"])

    def test_login_keeps_the_token_private_and_whoami_names_the_role(self):
        server = self.start_server()
        user_token = self.make_token(server, "user", "alice")
        token_file = os.path.join(self.tmp, "alice.token")
        with open(token_file, "w") as f:
            f.write(user_token + "\n")
        # A user's shell: no token, no CA in the environment, a config folder of its own.
        # (RUNYARD_TOKEN set but empty: the harness adds none, and the CLI treats it as unset.)
        env = {k: v for k, v in self.env.items() if k != "RUNYARD_CA_FILE"}
        env.update(RUNYARD_TOKEN="", XDG_CONFIG_HOME=os.path.join(self.tmp, "config"))
        rc, out, err = self.run_cli(["login", "--server", server.address, "--token-file", token_file,
                                     "--ca-file", security.ca_file()], env=env)
        self.assertEqual(rc, 0, err)
        credentials = os.path.join(self.tmp, "config", "runyard", "credentials")
        self.assertEqual(stat.S_IMODE(os.stat(credentials).st_mode), 0o600)
        self.assertNotIn(user_token, out + err, "login printed the token")
        # Later commands use what login saved: server, token and CA.
        plain = dict(env)
        rc, out, err = self.run_cli(["whoami"], env=plain)
        self.assertEqual(rc, 0, err)
        self.assertIn("alice", out)
        self.assertIn("user", out)


class AgentsJoinTest(harness.RunyardTestCase):
    """Acceptance 2 with the real agent: a rogue agent cannot register, the join token
    never shows in /proc, the agent keeps its own credential 0600, and a revoked agent is
    cut off and its run ends."""

    def test_rogue_agent_is_refused(self):
        server = self.start_server()
        argv = [harness.AGENT_BIN, "--server", server.address, "--pool", "cpu", "--work-dir",
                self.make_dir("rogue"), "--name", "rogue", "--server-ca-file", security.ca_file(),
                "--join-token-file", self.unused_join_token()]
        process = harness.ManagedProcess("rogue agent", argv, self.env, os.path.join(self.tmp, "rogue.log"))
        self.addCleanup(process.kill)
        process.wait_for_line(r"(?i)not known|refused|unauthenticated", timeout=60)
        harness.wait_for(lambda: not process.alive(), timeout=60, what="the rogue agent to exit")
        agents = self.cli_json(["agents", "--all"], server=server)
        self.assertEqual([a for a in agents if a["name"] == "rogue"], [])

    def test_join_token_stays_off_the_command_line_and_the_credential_is_private(self):
        server = self.start_server()
        agent = self.start_agent(server, pool="cpu")
        join_token = security.read_token(server.join_token_file)
        self.assertNotIn(join_token.encode(), harness._read_proc(agent.pid, "cmdline"))
        self.assertNotIn(join_token.encode(), harness._read_proc(agent.pid, "environ"))
        credential = os.path.join(agent.work_dir, "state", "agent-token")
        self.assertEqual(stat.S_IMODE(os.stat(credential).st_mode), 0o600)
        listed = self.cli_json(["agents"], server=server)
        self.assertIn("agent token", listed[0]["identity"])

    def test_revoked_agent_is_cut_off_and_its_run_ends(self):
        server = self.start_server()
        agent = self.start_agent(server, pool="cpu")
        source = self.source_dir("wait_for_file.py")
        latch = self.latch()
        run = self.submit(["--source-directory", source, "--script", "wait_for_file.py", "--interpreter",
                           PYTHON, "--target", "cpu", "--", latch], server=server)
        self.wait_for_log(run["run_id"], "ready", server=server)
        tokens = self.cli_json(["tokens", "list"], server=server)
        mine = [t for t in tokens if t.get("kind") in ("agent", "TOKEN_KIND_AGENT") and t.get("agent_name") == agent.name]
        self.assertEqual(len(mine), 1, tokens)
        self.run_cli(["tokens", "revoke", mine[0]["token_id"]], server=server, check=True)
        ended = self.wait_for_terminal(run["run_id"], server=server, timeout=120)
        self.assertEqual(ended["status"], "Failed", ended)
        self.assertIn("revoked", json.dumps(ended["error"]))
        harness.wait_for(lambda: not agent.process.alive(), timeout=120, what="the revoked agent to stop")
        self.assertRegex(agent.process.output(), r"(?i)revoked")


class SecretsTest(harness.RunyardTestCase):
    """Acceptance 4: a secret printed whole, split over two writes, and across the 1 MiB
    mark never reaches the stored std_log, `runyard logs`, `status --json` or the server's log."""

    SCRIPT = harness.LATCH_WAITER + textwrap.dedent("""
        import os, sys
        secret = os.environ["API_TOKEN"]
        mine = os.environ["MY_VALUE"]
        half = len(secret) // 2
        out = sys.stdout
        out.write("whole: %s and %s\\n" % (secret, mine))
        out.write("first-half-follows " + secret[:half])
        out.flush()
        if not wait_for_latch(sys.argv[1], 300):
            sys.exit(9)
        out.write(secret[half:] + "\\n")
        out.flush()
        # Ten copies of the secret around the 1 MiB mark of the log (whatever else the log
        # holds before the script's output, one of them straddles the mark).
        so_far = len(("whole: %s and %s\\n" % (secret, mine)).encode()) + \\
                 len(("first-half-follows " + secret + "\\n").encode())
        out.write("x" * ((1 << 20) - so_far - 150) + "\\n")
        for _ in range(10):
            out.write(secret + "\\n")
        out.write("done\\n")
        out.flush()
    """)

    def check_secrets_hidden(self, server, target):
        secret = "sk-" + os.urandom(12).hex()
        mine = "mv-" + os.urandom(10).hex()  # another length than the secret: counted apart
        source = self.make_dir("secret-src")
        with open(os.path.join(source, "printer.py"), "w") as f:
            f.write(self.SCRIPT)
        with open(os.path.join(source, "spec.yaml"), "w") as f:
            f.write(textwrap.dedent("""
                script: printer.py
                compute_target: %s
                environment:
                  python: {user_managed_dependencies: true, interpreter_path: %s}
                  environment_variables: {API_TOKEN: "%s", MY_VALUE: "%s"}
                  secret_variables: [MY_VALUE]
            """ % (target, PYTHON, secret, mine)))
        latch = self.latch()
        run = self.submit([os.path.join(source, "spec.yaml"), "--source-directory", source, "--", latch],
                          server=server)
        run_id = run["run_id"]
        self.wait_for_log(run_id, "first-half-follows", server=server)
        # The half written so far is not in the log (held back until the rest came).
        self.assertNotIn(secret[:len(secret) // 2], self.logs(run_id, server=server))
        self.release_latch(latch)
        ended = self.wait_for_terminal(run_id, server=server, timeout=180)
        self.assertEqual(ended["status"], "Completed", ended)
        log = self.logs(run_id, server=server)
        self.assertIn("done", log)
        self.assertIn("whole: ", log)
        places = {"runyard logs": log, "status --json": json.dumps(self.status(run_id, server=server))}
        rc, out, _ = self.run_cli(["show", run_id, "--json"], server=server)
        if rc == 0:
            places["show --json"] = out
        if server is not None:
            places["the server's log"] = server.process.output()
            stored = os.path.join(server.data_dir, "runs", run_id, "user_logs", "std_log.txt")
            if os.path.exists(stored):
                with open(stored, errors="replace") as f:
                    places["std_log as stored"] = f.read()
        for place, text in places.items():
            for value in (secret, mine, secret[:len(secret) // 2 + 1]):
                self.assertNotIn(value, text, "a secret in %s" % place)
        self.assertEqual(log.count("*" * len(secret)), 12, "each of the 12 appearances is masked")

    def test_secrets_remote(self):
        server = self.start_server()
        self.start_agent(server, pool="cpu")
        self.check_secrets_hidden(server, "cpu")

    def test_secrets_local_need_no_token(self):
        self.check_secrets_hidden(None, "local")


class TlsTest(harness.RunyardTestCase):
    """Acceptance 5: plaintext to a TLS server, a certificate from another CA and an
    expired one are refused with a clear error; the server refuses plaintext off loopback."""

    def test_plaintext_client_is_refused_clearly(self):
        server = self.start_server()
        env = dict(self.env, RUNYARD_INSECURE="1")
        rc, out, err = self.run_cli(["list"], server=server, env=env)
        self.assertNotEqual(rc, 0, out)
        self.assertRegex(err, r"(?i)tls")

    def test_wrong_ca_is_refused_clearly(self):
        server = self.start_server()
        other = self.make_dir("other-ca")
        security.make_ca(other, "another CA")
        env = dict(self.env, RUNYARD_CA_FILE=os.path.join(other, "ca.pem"))
        rc, out, err = self.run_cli(["list"], server=server, env=env)
        self.assertNotEqual(rc, 0, out)
        self.assertRegex(err, r"(?i)certificate")
        self.assertIn(os.path.join(other, "ca.pem"), err)

    def test_expired_certificate_is_refused_clearly(self):
        folder = self.make_dir("expired")
        security.make_ca(folder)
        security.sign_server_cert(folder, ["127.0.0.1", "localhost"], start="20200101000000Z",
                                  end="20200102000000Z")
        data_dir = self.make_dir("server-expired")
        argv = [harness.SERVER_BIN, "--listen", "127.0.0.1:0", "--data-dir", data_dir,
                "--tls-cert-file", os.path.join(folder, "server.pem"),
                "--tls-key-file", os.path.join(folder, "server.key")]
        done = harness.subprocess.run(argv, capture_output=True, text=True, timeout=60)
        # The server itself refuses to serve an expired certificate...
        self.assertNotEqual(done.returncode, 0)
        self.assertRegex(done.stderr, r"(?i)expired")

    def test_plaintext_off_loopback_is_refused(self):
        data_dir = self.make_dir("server-plain")
        done = harness.subprocess.run([harness.SERVER_BIN, "--listen", "0.0.0.0:0", "--data-dir", data_dir,
                                       "--insecure-plaintext"], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("loopback", done.stderr)
        done = harness.subprocess.run([harness.SERVER_BIN, "--listen", "127.0.0.1:0", "--data-dir", data_dir],
                                      capture_output=True, text=True, timeout=60)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("tls_cert_file", done.stderr)


if __name__ == "__main__":
    unittest.main()
