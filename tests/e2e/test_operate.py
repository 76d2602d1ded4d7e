"""Operating the daemons: drain on SIGTERM, `runyard-agent drain`, the config file and
--check-config, journald-friendly logs and a log file, and what the agent tells systemd
(READY, STATUS, STOPPING, a watchdog fed only while the server answers).

Real server and agent processes on 127.0.0.1; systemd's notify socket is played by a Unix
datagram socket the test reads, the journal by a file whose device and inode the test
names in JOURNAL_STREAM, exactly as systemd would.
"""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import harness
import security
from harness import AGENT_BIN, PYTHON, SERVER_BIN


def read(path):
    with open(path) as f:
        return f.read()


class NotifySocket:
    """A stand-in for systemd's NOTIFY_SOCKET: collects every datagram with its arrival time."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []  # (time, text)
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            with self.cond:
                self.messages.append((time.time(), data.decode()))
                self.cond.notify_all()

    def wait_for(self, text, timeout=60):
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for _, message in self.messages:
                    if text in message:
                        return message
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError("no %r among %r" % (text, [m for _, m in self.messages]))
                self.cond.wait(left)

    def times_of(self, text):
        with self.cond:
            return [t for t, message in self.messages if text in message]

    def close(self):
        self.sock.close()


class OperateTest(harness.RunyardTestCase):

    def start_agent_process(self, server, name, extra=(), env=None, pool="cpu", wait_registered=True):
        work_dir = os.path.join(self.tmp, "agent-" + name)
        argv = [AGENT_BIN, "--server", server.address, "--pool", pool, "--work-dir", work_dir, "--name", name,
                "--kill-grace-seconds", "2", *extra, *self.agent_security_args(server)]
        process = harness.ManagedProcess("agent " + name, argv, env or self.env,
                                         os.path.join(self.tmp, "agent-%s.log" % name))
        agent = harness.Agent(process, None, name, pool, work_dir)
        self.agents.append(agent)
        if wait_registered:
            agent.agent_id = process.wait_for_line(r"registered with \S+ as (agent-[0-9a-zA-Z]+)").group(1)
        return agent

    def blocker(self, server, release):
        source = self.source_dir("wait_for_file.py", "hello.py")
        run = self.submit(["--source-directory", source, "--script", "wait_for_file.py", "--interpreter", PYTHON,
                           "--target", "cpu", "--", release], server=server)
        self.wait_for_status(run["run_id"], "Running", server=server)
        return run["run_id"], source

    # ------------------------------------------------------------------ drain

    def test_first_sigterm_drains_the_running_run_completes_and_no_new_run_is_taken(self):
        server = self.start_server()
        agent = self.start_agent_process(server, "drain", ["--drain-timeout-seconds", "300"])
        release = self.latch()
        running, source = self.blocker(server, release)

        agent.process.proc.send_signal(signal.SIGTERM)
        agent.process.wait_for_line(r"draining: taking no new run")
        # The server shows it draining (its next poll said so), with the run it still holds.
        def shown_draining():
            shown = [a for a in self.cli_json(["agents", "--json"], server=server) if a["name"] == "drain"]
            return shown and shown[0]["state"] == "draining" and running in shown[0]["active_run_ids"]
        harness.wait_for(shown_draining, timeout=30, what="runyard agents to show the agent draining")
        queued = self.submit(["--source-directory", source, "--script", "hello.py", "--interpreter", PYTHON,
                              "--target", "cpu"], server=server)
        self.release_latch(release)
        self.assertEqual(self.wait_for_terminal(running, server=server)["status"], "Completed")
        self.assertEqual(agent.process.proc.wait(timeout=60), 0, agent.process.tail())
        # The agent is gone and never took the run submitted while it drained.
        self.assertEqual(self.status(queued["run_id"], server=server)["status"], "Queued")
        self.assertNotIn("run %s: starting" % queued["run_id"], agent.process.output())

    def test_second_sigterm_cancels_the_runs(self):
        server = self.start_server()
        agent = self.start_agent_process(server, "twice", ["--drain-timeout-seconds", "300"])
        running, _ = self.blocker(server, self.latch())  # never released
        agent.process.proc.send_signal(signal.SIGTERM)
        agent.process.wait_for_line(r"draining: taking no new run")
        agent.process.proc.send_signal(signal.SIGTERM)
        agent.process.wait_for_line(r"again: stopping the runs now")
        self.assertEqual(agent.process.proc.wait(timeout=60), 0, agent.process.tail())
        # Stopped by the node, not by its user: Failed with the reason named.
        run = self.wait_for_terminal(running, server=server)
        self.assertEqual((run["status"], run["error"]["code"]), ("Failed", "AgentShutdown"), run)

    def test_drain_timeout_cancels_what_is_still_running(self):
        server = self.start_server()
        agent = self.start_agent_process(server, "timeout", ["--drain-timeout-seconds", "2"])
        running, _ = self.blocker(server, self.latch())  # never released
        agent.process.proc.send_signal(signal.SIGTERM)
        agent.process.wait_for_line(r"drain timeout \(2 s\) reached: canceling 1 run")
        self.assertEqual(agent.process.proc.wait(timeout=60), 0, agent.process.tail())
        run = self.wait_for_terminal(running, server=server)
        self.assertEqual((run["status"], run["error"]["code"]), ("Failed", "AgentShutdown"), run)

    def test_an_idle_agent_drains_at_once(self):
        server = self.start_server()
        agent = self.start_agent_process(server, "idle")
        agent.process.proc.send_signal(signal.SIGTERM)
        self.assertEqual(agent.process.proc.wait(timeout=20), 0, agent.process.tail())

    def test_drain_command_drains_the_live_agent_and_waits_for_it(self):
        server = self.start_server()
        agent = self.start_agent_process(server, "cmd", ["--drain-timeout-seconds", "300"])
        release = self.latch()
        running, _ = self.blocker(server, release)
        drain = subprocess.Popen([AGENT_BIN, "drain", "--work-dir", agent.work_dir, "--wait"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)
        agent.process.wait_for_line(r"draining: taking no new run")
        self.assertIsNone(drain.poll(), "drain --wait returned while the run still ran")
        self.release_latch(release)
        out, err = drain.communicate(timeout=60)
        self.assertEqual(drain.returncode, 0, err)
        self.assertIn("is draining", out)
        self.assertIn("has exited", out)
        self.assertEqual(agent.process.proc.wait(timeout=10), 0)
        self.assertEqual(self.wait_for_terminal(running, server=server)["status"], "Completed")
        # Nothing runs there any more: drain says so and fails.
        again = subprocess.run([AGENT_BIN, "drain", "--work-dir", agent.work_dir], capture_output=True, text=True)
        self.assertEqual(again.returncode, 1)
        self.assertIn("no runyard-agent is running on", again.stderr)

    def test_a_second_agent_on_the_same_work_dir_refuses_to_start(self):
        server = self.start_server()
        first = self.start_agent_process(server, "same")
        second = subprocess.run([AGENT_BIN, "--server", server.address, "--pool", "cpu", "--work-dir",
                                 first.work_dir] + self.agent_security_args(server), capture_output=True, text=True, timeout=60)
        self.assertEqual(second.returncode, 1)
        self.assertIn("another runyard-agent (pid %d) already uses" % first.pid, second.stderr)

    # ------------------------------------------------------------------ configuration

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_check_config_prints_the_effective_configuration(self):
        config = self.write("agent.yaml", "pool: gpu\nslots: 3\nlabels: {gpu: a100, zone: b}\n"
                                          "drain_timeout_seconds: 120\n")
        done = subprocess.run([AGENT_BIN, "--config", config, "--slots", "4", "--labels", "rack=7",
                               "--sandbox-no-network", "--check-config"], capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)
        lines = dict(line.split(": ", 1) for line in done.stdout.splitlines() if not line.startswith("#"))
        self.assertEqual(lines["pool"].split("  #")[0], "gpu")
        self.assertEqual(lines["slots"].split("  #")[0], "4")  # the flag over the file
        self.assertEqual(lines["labels"].split("  #")[0], "{rack: 7}")
        self.assertEqual(lines["drain_timeout_seconds"].split("  #")[0], "120")
        self.assertEqual(lines["sandbox_network"].split("  #")[0], "false")
        # Every key of the file format is listed, each with what it means.
        self.assertGreaterEqual(len(lines), 30)
        self.assertTrue(all("  # " in value for value in lines.values()))

    def test_bad_configuration_is_an_error_naming_the_key(self):
        cases = [
            ("pool: gpu\nslotz: 3\n", "unknown key 'slotz'"),
            ("slots: many\n", "key 'slots' has a value of the wrong type"),
            ("slots: 0\n", "slots must be at least 1"),
            ("cgroup_mode: v3\n", "cgroup_mode must be auto, v2, v1 or none"),
            ("labels: [a, b]\n", "key 'labels' has a value of the wrong type"),
            ("log_level: loud\n", "log_level must be"),
        ]
        for text, expected in cases:
            with self.subTest(text=text):
                config = self.write("bad.yaml", text)
                done = subprocess.run([AGENT_BIN, "--config", config, "--check-config"], capture_output=True,
                                      text=True)
                self.assertEqual(done.returncode, 2, done.stdout)
                self.assertIn(expected, done.stderr)
        done = subprocess.run([AGENT_BIN, "--slots", "x", "--check-config"], capture_output=True, text=True)
        self.assertNotEqual(done.returncode, 0)
        done = subprocess.run([SERVER_BIN, "--config", self.write("s.yaml", "listen: 127.0.0.1:1\nport: 3\n"),
                               "--check-config"], capture_output=True, text=True)
        self.assertEqual(done.returncode, 2)
        self.assertIn("unknown key 'port'", done.stderr)
        done = subprocess.run([SERVER_BIN, "--lease-seconds", "0", "--check-config"], capture_output=True, text=True)
        self.assertEqual(done.returncode, 2)
        self.assertIn("lease_seconds must be positive", done.stderr)

    def test_server_reads_its_config_file(self):
        data_dir = os.path.join(self.tmp, "server-data")
        tls = security.tls_material()
        config = self.write("server.yaml", "listen: 127.0.0.1:0\ndata_dir: %s\nlease_seconds: 9\n"
                                           "tls_cert_file: %s\ntls_key_file: %s\n" % (data_dir, tls.cert, tls.key))
        check = subprocess.run([SERVER_BIN, "--config", config, "--check-config"], capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertIn("lease_seconds: 9", check.stdout)
        process = harness.ManagedProcess("server-config", [SERVER_BIN, "--config", config], self.env,
                                         os.path.join(self.tmp, "server-config.log"))
        server = harness.Server(process, None, data_dir)
        self.servers.append(server)
        server.address = "127.0.0.1:%s" % process.wait_for_line(r"listening on 127\.0\.0\.1:(\d+)").group(1)
        self.enroll(server)
        self.assertTrue(os.path.exists(os.path.join(data_dir, "runyard.db")))
        self.start_agent_process(server, "cfg")

    # ------------------------------------------------------------------ logs and systemd

    def test_logs_under_the_journal_carry_priorities_and_no_timestamps_and_a_log_file_gets_them_too(self):
        journal = os.path.join(self.tmp, "journal.txt")
        log_file = os.path.join(self.tmp, "agent-file.log")
        with open(journal, "w") as stderr:
            info = os.fstat(stderr.fileno())
            env = dict(self.env, JOURNAL_STREAM="%d:%d" % (info.st_dev, info.st_ino))
            # No server listens there: the agent logs that it cannot reach it, and retries.
            agent = subprocess.Popen([AGENT_BIN, "--server", "127.0.0.1:1", "--pool", "cpu", "--work-dir",
                                      os.path.join(self.tmp, "wd-journal"), "--log-file", log_file,
                                      "--server-ca-file", security.ca_file(),
                                      "--join-token-file", self.unused_join_token()],
                                     stdout=subprocess.DEVNULL, stderr=stderr, env=env)
            try:
                harness.wait_for(lambda: "cannot reach" in read(journal), timeout=60, what="a warning line")
            finally:
                agent.send_signal(signal.SIGINT)
                agent.wait(timeout=30)
        lines = [line for line in read(journal).splitlines() if line]
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, r"^<[2-7]>(trace|debug|info|warning|error|critical) \[\w+\] ")
        self.assertTrue(any(line.startswith("<4>warning [agent] cannot reach") for line in lines), lines)
        file_lines = read(log_file).splitlines()
        self.assertTrue(any("cannot reach" in line for line in file_lines))
        self.assertRegex(file_lines[0], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} ")

    def test_systemd_hears_ready_status_and_stopping_and_the_watchdog_is_fed_only_while_the_server_answers(self):
        server = self.start_server()
        notify = NotifySocket(os.path.join(self.tmp, "notify.sock"))
        self.addCleanup(notify.close)
        env = dict(self.env, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="2000000")
        agent = self.start_agent_process(server, "sd", env=env)
        ready = notify.wait_for("READY=1")
        self.assertIn("STATUS=registered with %s" % server.address, ready)
        harness.wait_for(lambda: len(notify.times_of("WATCHDOG=1")) >= 3, timeout=30, what="watchdog pings")

        source = self.source_dir("hello.py")
        run = self.submit(["--source-directory", source, "--script", "hello.py", "--interpreter", PYTHON,
                           "--target", "cpu"], server=server)
        self.wait_for_terminal(run["run_id"], server=server)
        notify.wait_for("STATUS=1 of 1 slot(s) busy")
        notify.wait_for("STATUS=0 of 1 slot(s) busy")

        # The server goes away: within the watchdog interval the pings stop (systemd would
        # restart the agent).
        server.process.stop(grace=5)
        stopped = time.time()
        harness.wait_for(lambda: time.time() - max(notify.times_of("WATCHDOG=1")) > 3.0, timeout=30,
                         what="the watchdog pings to stop")
        last_ping = max(notify.times_of("WATCHDOG=1"))
        self.assertLess(last_ping - stopped, 2.0 + 1.0)
        self.assertTrue(agent.process.alive())

        agent.process.proc.send_signal(signal.SIGTERM)
        self.assertIn("STOPPING=1", notify.wait_for("STOPPING=1"))
        self.assertEqual(agent.process.proc.wait(timeout=30), 0)

    # ------------------------------------------------------------------ health and metrics

    def http_get(self, port, path, tls=False):
        """GET on 127.0.0.1:port; `tls`: HTTPS, verified with the tests' CA (a server's
        listener serves HTTPS with its certificate; an agent's here serves plain HTTP)."""
        import ssl
        import urllib.error
        import urllib.request
        scheme, context = "http", None
        if tls:
            scheme, context = "https", ssl.create_default_context(cafile=security.ca_file())
        try:
            with urllib.request.urlopen("%s://127.0.0.1:%d%s" % (scheme, port, path), timeout=10,
                                        context=context) as response:
                return response.status, response.headers.get("Content-Type"), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Content-Type"), error.read().decode()

    @staticmethod
    def parse_metrics(text):
        """Every sample, parsed by the Prometheus client library's own text parser."""
        from prometheus_client.parser import text_string_to_metric_families
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    def test_agent_metrics_parse_as_prometheus_text_and_healthz_fails_once_the_server_is_gone(self):
        server = self.start_server()
        agent = self.start_agent_process(server, "metrics", ["--http-listen", "127.0.0.1:0",
                                                             "--healthz-server-silence-seconds", "2"])
        port = int(agent.process.wait_for_line(r"serving /healthz and /metrics on \S+ \(port (\d+)\)").group(1))
        source = self.source_dir("hello.py")
        run = self.submit(["--source-directory", source, "--script", "hello.py", "--interpreter", PYTHON,
                           "--target", "cpu"], server=server)
        self.assertEqual(self.wait_for_terminal(run["run_id"], server=server)["status"], "Completed")

        status, content_type, body = self.http_get(port, "/metrics")
        self.assertEqual(status, 200)
        self.assertIn("version=0.0.4", content_type)
        samples = self.parse_metrics(body)
        self.assertEqual(samples[("runyard_agent_runs_started_total", ())], 1)
        self.assertEqual(samples[("runyard_agent_runs_finished_total",
                                  (("error", "none"), ("status", "Completed")))], 1)
        self.assertEqual(samples[("runyard_agent_active_runs", ())], 0)
        self.assertEqual(samples[("runyard_agent_slots", ())], 1)
        self.assertEqual(samples[("runyard_agent_draining", ())], 0)
        self.assertGreater(samples[("runyard_agent_upload_bytes_total", ())], 0)  # its logs
        self.assertLess(samples[("runyard_agent_heartbeat_age_seconds", ())], 30)
        self.assertIn(("runyard_agent_environment_cache_total", (("result", "hit"),)), samples)

        status, _, body = self.http_get(port, "/healthz")
        self.assertEqual(status, 200, body)
        self.assertTrue(body.startswith("ok: server %s last answered" % server.address), body)
        self.assertEqual(self.http_get(port, "/nope")[0], 404)

        server.process.stop(grace=5)
        harness.wait_for(lambda: self.http_get(port, "/healthz")[0] == 503, timeout=60,
                         what="/healthz to turn unhealthy")
        status, _, body = self.http_get(port, "/healthz")
        self.assertIn("unhealthy: server %s last answered" % server.address, body)
        self.assertIn("(threshold 2 s)", body)

    def test_an_unusable_http_listen_address_stops_the_agent_with_its_name(self):
        server = self.start_server()
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        address = "127.0.0.1:%d" % taken.getsockname()[1]
        done = subprocess.run([AGENT_BIN, "--server", server.address, "--pool", "cpu", "--work-dir",
                               os.path.join(self.tmp, "wd-http"), "--http-listen", address]
                              + self.agent_security_args(server),
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 1)
        self.assertIn("cannot listen on %s" % address, done.stderr)

    def test_server_metrics_show_runs_queue_agents_and_uploads(self):
        data_dir = os.path.join(self.tmp, "server-metrics")
        process = harness.ManagedProcess("server-metrics", [SERVER_BIN, "--listen", "127.0.0.1:0", "--data-dir",
                                                            data_dir, "--http-listen", "127.0.0.1:0"]
                                         + security.server_args(data_dir),
                                         self.env, os.path.join(self.tmp, "server-metrics.log"))
        server = harness.Server(process, None, data_dir)
        self.servers.append(server)
        server.address = "127.0.0.1:%s" % process.wait_for_line(r"listening on 127\.0\.0\.1:(\d+)").group(1)
        self.enroll(server)
        port = int(process.wait_for_line(r"serving /healthz and /metrics on \S+ \(port (\d+)\)").group(1))
        self.start_agent_process(server, "m1")
        source = self.source_dir("hello.py")
        done = self.submit(["--source-directory", source, "--script", "hello.py", "--interpreter", PYTHON,
                            "--target", "cpu"], server=server)
        self.assertEqual(self.wait_for_terminal(done["run_id"], server=server)["status"], "Completed")
        self.submit(["--source-directory", source, "--script", "hello.py", "--interpreter", PYTHON,
                     "--target", "nobody-serves-this"], server=server)

        status, content_type, body = self.http_get(port, "/metrics", tls=True)
        self.assertEqual(status, 200)
        self.assertIn("version=0.0.4", content_type)
        samples = self.parse_metrics(body)
        self.assertEqual(samples[("runyard_server_runs", (("pool", "cpu"), ("status", "Completed")))], 1)
        self.assertEqual(samples[("runyard_server_queue_length", (("pool", "nobody-serves-this"),))], 1)
        self.assertEqual(samples[("runyard_server_queue_length", (("pool", "cpu"),))], 0)
        self.assertEqual(samples[("runyard_server_agents", (("pool", "cpu"), ("state", "idle")))], 1)
        self.assertGreater(samples[("runyard_server_upload_bytes_total", ())], 0)
        self.assertEqual(samples[("runyard_server_database_up", ())], 1)
        status, _, body = self.http_get(port, "/healthz", tls=True)
        self.assertEqual((status, body), (200, "ok: the database answers\n"))

    def test_server_shuts_down_cleanly_on_sigterm(self):
        server = self.start_server()
        server.process.proc.send_signal(signal.SIGTERM)
        self.assertEqual(server.process.proc.wait(timeout=30), 0, server.process.tail())
        self.assertIn("signal 15: shutting down", server.process.output())

    def test_server_tells_systemd_it_is_ready_and_stopping(self):
        notify = NotifySocket(os.path.join(self.tmp, "server-notify.sock"))
        self.addCleanup(notify.close)
        data_dir = os.path.join(self.tmp, "server-sd")
        process = harness.ManagedProcess("server-sd", [SERVER_BIN, "--listen", "127.0.0.1:0", "--data-dir", data_dir]
                                         + security.server_args(data_dir),
                                         dict(self.env, NOTIFY_SOCKET=notify.path),
                                         os.path.join(self.tmp, "server-sd.log"))
        self.servers.append(harness.Server(process, None, data_dir))
        port = process.wait_for_line(r"listening on 127\.0\.0\.1:(\d+)").group(1)
        self.assertIn("STATUS=listening on 127.0.0.1:%s" % port, notify.wait_for("READY=1"))
        process.proc.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING=1")
        self.assertEqual(process.proc.wait(timeout=30), 0)
