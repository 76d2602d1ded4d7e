"""Helpers for runyard's end-to-end tests: real binaries, real processes.

Standard library only (Debian's /usr/bin/python3). Every test gets a temporary
directory, its own RUNYARD_HOME, its own server/agents on free ports, and a session
marker in the environment of every process it starts (and so of everything those
start), so that tearDown can find and kill whatever is left over.

Nothing here sleeps for a guessed duration: readiness is waited for on log lines, scripts
are held and let go by latches (FIFOs), and what nothing signals (statuses, /proc) is
polled by wait_for, the one polling loop of these tests, with a short interval and a
generous bound.
"""
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
import uuid

import security

BIN_DIR = os.environ.get("RUNYARD_BIN_DIR") or "/work/main/build"
SOURCE_DIR = os.environ.get("RUNYARD_SOURCE_DIR") or "/work/main"
SERVER_BIN = os.path.join(BIN_DIR, "server", "runyard-server")
AGENT_BIN = os.path.join(BIN_DIR, "agent", "runyard-agent")
CLI_BIN = os.path.join(BIN_DIR, "cli", "runyard")
QUICKSTART_SPEC = os.path.join(SOURCE_DIR, "examples", "quickstart", "run.yaml")

# Debian's python3 (another python3 may shadow it on PATH).
PYTHON = "/usr/bin/python3"

TERMINAL = {"Completed", "Failed", "Canceled"}
SESSION_VAR = "RUNYARD_E2E_SESSION"
MARKER_VAR = "RUNYARD_TEST_MARKER"

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message):
    """Progress/measurements, visible in ctest -V output."""
    sys.stderr.write("    [e2e] %s\n" % message)
    sys.stderr.flush()


# ----------------------------------------------------------------------------- waiting


class WaitTimeout(AssertionError):
    pass


def wait_for(predicate, timeout=60.0, interval=0.1, describe=None, what="condition"):
    """Polls predicate() until it returns something truthy; returns that value.

    Raises WaitTimeout (an AssertionError, so the test fails rather than errors) after
    `timeout` seconds; describe() (if given) adds context to the message.
    """
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except WaitTimeout:
            raise
        except Exception as error:  # a transient CLI failure while polling: keep trying
            last_error = error
        if time.monotonic() >= deadline:
            message = "timed out after %.1f s waiting for %s" % (timeout, what)
            if last_error is not None:
                message += "\nlast error: %r" % (last_error,)
            if describe is not None:
                try:
                    message += "\n" + describe()
                except Exception as error:  # never hide the timeout behind a describe bug
                    message += "\n(describe failed: %r)" % (error,)
            raise WaitTimeout(message)
        time.sleep(interval)


# ----------------------------------------------------------------------------- processes


class ManagedProcess:
    """A started binary whose stderr (and stdout) lines are collected by threads."""

    def __init__(self, name, argv, env, log_path, cwd=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._lines = []
        self._streams = {"stdout": [], "stderr": []}
        self._cond = threading.Condition()
        self._log_file = open(log_path, "w", encoding="utf-8", errors="replace")
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.pid = self.proc.pid
        self._threads = [threading.Thread(target=self._pump, args=(stream, name), daemon=True)
                         for stream, name in ((self.proc.stdout, "stdout"), (self.proc.stderr, "stderr"))]
        for thread in self._threads:
            thread.start()

    def _pump(self, stream, name):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace")
            with self._cond:
                self._lines.append(line)
                self._streams[name].append(line)
                try:
                    self._log_file.write(line)
                    self._log_file.flush()
                except ValueError:
                    pass
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def output(self):
        """stdout and stderr lines, interleaved as they arrived."""
        with self._cond:
            return "".join(self._lines)

    def stdout(self):
        with self._cond:
            return "".join(self._streams["stdout"])

    def stderr(self):
        with self._cond:
            return "".join(self._streams["stderr"])

    def tail(self, lines=30):
        with self._cond:
            return "".join(self._lines[-lines:])

    def wait_for_line(self, pattern, timeout=60.0):
        """Waits until a collected line matches `pattern`; returns the re.Match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = 0
            while True:
                while seen < len(self._lines):
                    match = regex.search(self._lines[seen])
                    seen += 1
                    if match:
                        return match
                if self.proc.poll() is not None and all(not t.is_alive() for t in self._threads):
                    raise AssertionError("%s exited (rc %s) before printing /%s/:\n%s" % (
                        self.name, self.proc.returncode, pattern, "".join(self._lines[-40:])))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout("%s did not print /%s/ within %.0f s:\n%s" % (
                        self.name, pattern, timeout, "".join(self._lines[-40:])))
                self._cond.wait(min(remaining, 0.5))

    def alive(self):
        return self.proc.poll() is None

    def stop(self, grace=5.0, sig=signal.SIGTERM):
        """`sig` (SIGTERM), then SIGKILL if it is still there after `grace` seconds."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.kill()
            except ProcessLookupError:
                pass
        self._finish()

    def kill(self):
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._finish()

    def _finish(self):
        for thread in self._threads:
            thread.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if not any(t.is_alive() for t in self._threads):
                try:
                    stream.close()
                except Exception:
                    pass
        with self._cond:
            try:
                self._log_file.close()
            except Exception:
                pass


class Server:
    def __init__(self, process, address, data_dir):
        self.process = process
        self.address = address
        self.data_dir = data_dir
        self.pid = process.pid
        # Security (tests/e2e/security.py): the first admin token the server wrote, and a
        # join token file for its agents (RunyardTestCase.enroll).
        self.admin_token = None
        self.join_token_file = None

    def __str__(self):
        return self.address


class Agent:
    def __init__(self, process, agent_id, name, pool, work_dir):
        self.process = process
        self.agent_id = agent_id
        self.name = name
        self.pool = pool
        self.work_dir = work_dir
        self.pid = process.pid

    def run_dir(self, run_id):
        return os.path.join(self.work_dir, "runs", run_id)


def _read_proc(pid, name):
    try:
        with open("/proc/%d/%s" % (pid, name), "rb") as f:
            return f.read()
    except OSError:
        return b""


def process_state(pid):
    stat = _read_proc(pid, "stat")
    if not stat:
        return None
    # pid (comm) S ...: comm may contain spaces and parentheses
    return stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3].decode()


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks (from /proc/<pid>/stat)."""
    stat = _read_proc(pid, "stat").decode()
    fields = stat[stat.rfind(")") + 2:].split()
    # fields[0] is the state (field 3); utime is field 14, stime field 15.
    return int(fields[11]) + int(fields[12])


def find_processes(needle, in_environ=True, in_cmdline=False):
    """Live (non-zombie) processes whose environ/cmdline contains `needle`: [(pid, cmdline)]."""
    needle_bytes = needle.encode() if isinstance(needle, str) else needle
    own = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == own:
            continue
        hit = False
        if in_environ and needle_bytes in _read_proc(pid, "environ"):
            hit = True
        cmdline = _read_proc(pid, "cmdline")
        if in_cmdline and needle_bytes in cmdline:
            hit = True
        if not hit:
            continue
        state = process_state(pid)
        if state is None or state in ("Z", "X"):
            continue
        found.append((pid, cmdline.replace(b"\0", b" ").decode(errors="replace").strip()))
    return found


def unmount_below(folder):
    """Lazily unmounts everything mounted below `folder`, deepest first (a SIGKILLed agent
    leaves its runs' overlays and read-only binds; rmtree cannot remove those). Returns how many."""
    prefix = os.path.realpath(folder) + "/"
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                points.append(point)
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    return len(points)


def kill_processes(needle, in_cmdline=False):
    """SIGKILLs every live process carrying `needle`, until none is left (bounded: 10 s)."""
    killed = []

    def none_left():
        found = find_processes(needle, in_environ=True, in_cmdline=in_cmdline)
        for pid, cmdline in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append((pid, cmdline))
            except (ProcessLookupError, PermissionError):
                pass
        return not found

    try:
        wait_for(none_left, timeout=10, interval=0.05, what="processes with %s to be gone" % needle)
    except WaitTimeout:
        pass  # cleanup goes on; what is left is in `killed` (the caller logs it)
    return killed


# ----------------------------------------------------------------------------- latches

# A script that must hold until the test lets it go waits on a latch (RunyardTestCase.latch):
# a FIFO the test makes and keeps open read-write until the test ends. Releasing it puts
# LATCH_WAITS bytes into the FIFO and each wait takes one, so, like a release file, a
# released latch lets every waiter through, those already waiting and those that come later,
# and a waiter blocks on the FIFO instead of polling for a file. Neither side can hang: the
# test's end is non-blocking (no open waits for a reader, no write for room), and a waiter
# gives up at its own deadline, or when it reads end of file (no writer: the test has gone).
LATCH_WAITS = 4096  # PIPE_BUF: one atomic write, which fits a pipe of even a single page

# Python source defining wait_for_latch(path, timeout): put it at the top of a script.
LATCH_WAITER = '''
def wait_for_latch(path, timeout):
    """True once the test released the latch at `path`; False after `timeout` s or when the
    test has gone."""
    import os, select, time
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(int(left * 1000) + 1):
                return False
            try:
                return os.read(fd, 1) != b""  # b"": no writer left, the test has gone
            except BlockingIOError:
                pass  # another waiter took the last byte first
    finally:
        os.close(fd)
'''.lstrip()


# ----------------------------------------------------------------------------- scripts

# Scripts the tests run. Each takes its parameters from argv/env; all print with flush.
SCRIPTS = {
    # Exits with the code given as first argument.
    "exit_code.py": """
        import sys
        print("exiting with", sys.argv[1], flush=True)
        sys.exit(int(sys.argv[1]))
    """,
    # Prints 'ready <run id>', then waits until the test releases the latch at argv[1].
    "wait_for_file.py": LATCH_WAITER + textwrap.dedent("""
        import os, sys
        print("ready", os.environ.get("RUNYARD_RUN_ID", "?"), flush=True)
        if not wait_for_latch(sys.argv[1], 300):
            print("never released", flush=True)
            sys.exit(9)
        print("released", flush=True)
    """),
    # Starts a child `sleep`, prints 'ready', sleeps. argv[1] (optional): 'trap' to
    # ignore SIGTERM (printing a line when it arrives).
    "sleeper.py": """
        import os, signal, subprocess, sys, time
        if len(sys.argv) > 1 and sys.argv[1] == "trap":
            def on_term(signum, frame):
                print("got SIGTERM, ignoring it", flush=True)
            signal.signal(signal.SIGTERM, on_term)
        child = subprocess.Popen(["sleep", "60"])
        print("ready", os.getpid(), child.pid, flush=True)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            time.sleep(max(0.0, end - time.monotonic()))
        print("slept 60 s", flush=True)
    """,
    "hello.py": """
        print("hello from runyard", flush=True)
    """,
    # Leaves a background `sleep 60` behind and exits 0 at once.
    "leave_child.py": """
        import subprocess
        child = subprocess.Popen(["sleep", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print("left child", child.pid, flush=True)
    """,
    # Prints a numbered line every 0.1 s until the file named by argv[1] exists.
    "ticker.py": """
        import os, sys, time
        release = sys.argv[1]
        i = 0
        deadline = time.monotonic() + 300
        while not os.path.exists(release) and time.monotonic() < deadline:
            print("tick", i, flush=True)
            i += 1
            time.sleep(0.1)
        print("done after", i, "ticks", flush=True)
    """,
}


# ----------------------------------------------------------------------------- test case


# Each test server hands distributed runs ports from a block of its own: tests run side by
# side (ctest -j), and two servers giving out the same MASTER_PORT on one host would make
# one gang's ranks join the other's. A block is held by an flock for as long as the test
# runs; below 32768, out of Linux's ephemeral port range.
PORT_BLOCK_DIR = "/tmp/runyard-e2e-port-blocks"
PORT_BLOCK_FIRST, PORT_BLOCK_SIZE, PORT_BLOCKS = 20000, 100, 120


def hold_port_block():
    """(fd holding the block's lock, "FIRST-LAST") of a block no other test holds."""
    os.makedirs(PORT_BLOCK_DIR, exist_ok=True)
    for index in range(PORT_BLOCKS):
        fd = os.open(os.path.join(PORT_BLOCK_DIR, "block-%d" % index), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        first = PORT_BLOCK_FIRST + index * PORT_BLOCK_SIZE
        return fd, "%d-%d" % (first, first + PORT_BLOCK_SIZE - 1)
    raise AssertionError("all %d port blocks under %s are held" % (PORT_BLOCKS, PORT_BLOCK_DIR))


class RunyardTestCase(security.SecureServers, unittest.TestCase):
    """Base class: temp dir, RUNYARD_HOME, process bookkeeping and cleanup."""

    maxDiff = None

    def setUp(self):
        for binary in (SERVER_BIN, AGENT_BIN, CLI_BIN):
            if not os.access(binary, os.X_OK):
                self.fail("binary missing: %s (build first; RUNYARD_BIN_DIR=%s)" % (binary, BIN_DIR))
        self.tmp = tempfile.mkdtemp(prefix="runyard-e2e-")
        self.session = uuid.uuid4().hex
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        env = dict(os.environ)
        env.pop("RUNYARD_SERVER", None)
        env["RUNYARD_HOME"] = self.home
        env[SESSION_VAR] = self.session
        env["TMPDIR"] = self.tmp
        env["RUNYARD_CA_FILE"] = security.ca_file()
        for variable in ("RUNYARD_TOKEN", "RUNYARD_INSECURE"):
            env.pop(variable, None)
        self.env = env
        self.servers = []
        self.agents = []
        self.popens = []
        self._latches = {}  # path -> the test's fd, until released
        self.addCleanup(self._cleanup)

    # ------------------------------------------------------------------ fixtures

    def make_dir(self, *parts):
        path = os.path.join(self.tmp, *parts)
        os.makedirs(path, exist_ok=True)
        return path

    def source_dir(self, *names):
        """A source directory holding the named scripts from SCRIPTS (all by default)."""
        path = self.make_dir("src-" + uuid.uuid4().hex[:8])
        for name in names or SCRIPTS:
            with open(os.path.join(path, name), "w") as f:
                f.write(textwrap.dedent(SCRIPTS[name]).lstrip())
        return path

    def new_marker(self):
        return "m" + uuid.uuid4().hex

    def latch(self, path=None):
        """A fresh latch (see LATCH_WAITER) at `path` (default: a new name under the test's
        folder), held until the test ends; returns its path, for a script's wait_for_latch."""
        path = path or os.path.join(self.tmp, "latch-" + uuid.uuid4().hex[:8])
        os.mkfifo(path, 0o644)
        # O_RDWR: opening does not wait for a reader. Not inherited by what the test starts.
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        self.addCleanup(os.close, fd)
        self._latches[path] = fd
        return path

    def release_latch(self, path):
        """Lets every script waiting on the latch at `path` go on, and any that waits later."""
        fd = self._latches.pop(path, None)
        if fd is not None:  # released once only: a second write would find no room
            os.write(fd, b"x" * LATCH_WAITS)

    def start_server(self, lease_seconds=None, agent_lost_seconds=None, timeout=60, extra_args=()):
        index = len(self.servers)
        data_dir = self.make_dir("server%d" % index)
        argv = [SERVER_BIN, "--listen", "127.0.0.1:0", "--data-dir", data_dir,
                "--gang-port-range", self.gang_port_range()] + security.server_args(data_dir)
        if lease_seconds is not None:
            argv += ["--lease-seconds", str(lease_seconds)]
        if agent_lost_seconds is not None:
            argv += ["--agent-lost-seconds", str(agent_lost_seconds)]
        argv += list(extra_args)
        process = ManagedProcess("server%d" % index, argv, self.env,
                                 os.path.join(self.tmp, "server%d.log" % index))
        server = Server(process, None, data_dir)
        self.servers.append(server)
        match = process.wait_for_line(r"listening on 127\.0\.0\.1:(\d+)", timeout=timeout)
        server.address = "127.0.0.1:%s" % match.group(1)
        self.enroll(server)
        return server

    def gang_port_range(self):
        """This test's block of ports for its servers' distributed runs (see hold_port_block)."""
        if not hasattr(self, "_gang_ports"):
            fd, self._gang_ports = hold_port_block()
            self.addCleanup(os.close, fd)
        return self._gang_ports

    def start_agent(self, server, pool="cpu", name=None, slots=1, kill_grace_seconds=2, timeout=60):
        address = getattr(server, "address", server)
        index = len(self.agents)
        name = name or "agent%d" % index
        work_dir = self.make_dir("agent-" + name)
        argv = [AGENT_BIN, "--server", address, "--pool", pool, "--work-dir", work_dir,
                "--slots", str(slots), "--name", name,
                "--kill-grace-seconds", str(kill_grace_seconds)] + self.agent_security_args(server)
        process = ManagedProcess("agent " + name, argv, self.env,
                                 os.path.join(self.tmp, "agent-%s.log" % name))
        agent = Agent(process, None, name, pool, work_dir)
        self.agents.append(agent)
        match = process.wait_for_line(r"registered with \S+ as (agent-[0-9a-zA-Z]+)", timeout=timeout)
        agent.agent_id = match.group(1)
        return agent

    # ------------------------------------------------------------------ CLI

    def cli_argv(self, args, server=None):
        argv = [CLI_BIN]
        if server is not None:
            argv += ["--server", getattr(server, "address", server)]
        return argv + list(args)

    def run_cli(self, args, server=None, env=None, check=False, timeout=180, cwd=None):
        """Runs the CLI; returns (rc, stdout, stderr)."""
        argv = self.cli_argv(args, server)
        try:
            done = subprocess.run(argv, env=self.cli_env(server, env), cwd=cwd or self.tmp,
                                  stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as error:
            self.fail("%s timed out after %s s\nstdout:\n%s\nstderr:\n%s" % (
                " ".join(argv), timeout, (error.stdout or b"").decode(errors="replace"),
                (error.stderr or b"").decode(errors="replace")))
        out = done.stdout.decode("utf-8", errors="replace")
        err = done.stderr.decode("utf-8", errors="replace")
        if check and done.returncode != 0:
            self.fail("%s failed (rc %d)\nstdout:\n%s\nstderr:\n%s%s" % (
                " ".join(argv), done.returncode, out, err, self.describe_processes()))
        return done.returncode, out, err

    def popen_cli(self, args, server=None):
        """Starts the CLI in the background (stdout/stderr collected by threads)."""
        process = ManagedProcess("runyard " + " ".join(args[:1]), self.cli_argv(args, server),
                                 self.cli_env(server),
                                 os.path.join(self.tmp, "cli-%s.log" % uuid.uuid4().hex[:8]), cwd=self.tmp)
        self.popens.append(process)
        return process

    def cli_json(self, args, server=None, timeout=180):
        rc, out, err = self.run_cli(list(args) + ["--json"], server=server, timeout=timeout)
        if rc != 0:
            raise AssertionError("runyard %s --json: rc %d\n%s%s" % (" ".join(args), rc, out, err))
        return json.loads(out)

    def status(self, run_id, server=None):
        return self.cli_json(["status", run_id], server=server)

    def list_runs(self, server=None):
        return self.cli_json(["list", "--limit", "1000"], server=server)

    def logs(self, run_id, server=None):
        rc, out, err = self.run_cli(["logs", run_id], server=server)
        if rc != 0:
            raise AssertionError("runyard logs %s: rc %d\n%s" % (run_id, rc, err))
        return out

    def submit(self, args, server=None):
        """`runyard submit ARGS --json` (no wait): returns the JSON object."""
        rc, out, err = self.run_cli(["submit", "--json"] + list(args), server=server)
        if rc != 0:
            self.fail("submit failed (rc %d)\nstdout:\n%s\nstderr:\n%s" % (rc, out, err))
        return json.loads(out)

    def wait_for_status(self, run_id, statuses, server=None, timeout=60, interval=0.1):
        """Polls `runyard status --json` until the status is one of `statuses`; returns the JSON."""
        if isinstance(statuses, str):
            statuses = {statuses}
        last = {}

        def check():
            last["run"] = self.status(run_id, server=server)
            return last["run"] if last["run"]["status"] in statuses else None

        return wait_for(check, timeout=timeout, interval=interval,
                        what="run %s to be %s" % (run_id, "/".join(sorted(statuses))),
                        describe=lambda: "last status: %s%s" % (
                            json.dumps(last.get("run"), indent=1), self.describe_processes()))

    def wait_for_terminal(self, run_id, server=None, timeout=120):
        return self.wait_for_status(run_id, TERMINAL, server=server, timeout=timeout, interval=0.2)

    def wait_for_log(self, run_id, text, server=None, timeout=60):
        return wait_for(lambda: text in self.logs(run_id, server=server), timeout=timeout, interval=0.1,
                        what="'%s' in the log of %s" % (text, run_id),
                        describe=lambda: self.describe_processes())

    # ------------------------------------------------------------------ checks

    def assert_no_process(self, marker, timeout=5.0):
        """No live process has `marker` in its environment (waits up to `timeout` for exits in flight)."""
        try:
            wait_for(lambda: not find_processes(marker), timeout=timeout, interval=0.05,
                     what="processes with marker %s to be gone" % marker)
        except WaitTimeout:
            self.fail("processes of the run remain: %s" % find_processes(marker))

    @staticmethod
    def history_statuses(run):
        return [event["status"] for event in run["history"]]

    @staticmethod
    def history_time(run, status, last=False):
        times = [event["time_unix_ms"] for event in run["history"] if event["status"] == status]
        if not times:
            raise AssertionError("status %s not in history %s" % (
                status, [e["status"] for e in run["history"]]))
        return times[-1] if last else times[0]

    def describe_processes(self):
        parts = []
        for server in self.servers:
            parts.append("\n--- %s (%s) log tail:\n%s" % (server.process.name, server.address,
                                                          server.process.tail()))
        for agent in self.agents:
            parts.append("\n--- %s (%s) log tail:\n%s" % (agent.process.name, agent.agent_id,
                                                          agent.process.tail()))
        return "".join(parts)

    # ------------------------------------------------------------------ cleanup

    def _cleanup(self):
        for process in self.popens:
            process.kill()
        # Agents first (SIGINT: they stop their runs now, no drain), then servers; anything
        # left by marker.
        for agent in self.agents:
            agent.process.stop(grace=5, sig=signal.SIGINT)
        for server in self.servers:
            server.process.stop(grace=5)
        leftovers = kill_processes(self.session)
        if leftovers:
            log("killed leftover processes: %s" % leftovers)
        if os.environ.get("RUNYARD_E2E_KEEP"):
            log("kept %s" % self.tmp)
        else:
            unmounted = unmount_below(self.tmp)
            if unmounted:
                log("unmounted %d overlay/bind mounts a killed agent left under %s" % (unmounted, self.tmp))
            shutil.rmtree(self.tmp, ignore_errors=True)
