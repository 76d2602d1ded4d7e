"""Fault injection for the e2e tests (test_upload_faults.py): digests, a TCP proxy that can
cut the agent-server path, and restarts of a server or an agent in place."""
import hashlib
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

from harness import Agent, ManagedProcess, RunyardTestCase, log, wait_for



def sha256_file(path):
    """Hex SHA-256 of a file's contents."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def first_difference(expected, got):
    """Offset of the first byte where two byte strings differ (None if equal)."""
    if expected == got:
        return None
    limit = min(len(expected), len(got))
    low, high = 0, limit
    while low < high:  # binary search on equal prefixes (fast on large buffers)
        middle = (low + high + 1) // 2
        if expected[:middle] == got[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def unmount_below(folder):
    """Lazily unmounts every mount point below `folder` (deepest first); returns how many."""
    prefix = os.path.realpath(folder) + "/"
    points = []
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                point = line.split()[1].replace("\\040", " ")
                if point.startswith(prefix):
                    points.append(point)
    except OSError:
        return 0
    for point in sorted(set(points), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if points:
        log("unmounted %d mount(s) left below %s" % (len(set(points)), folder))
    return len(set(points))


def _reset_close(sock):
    """Closes a socket with an RST (SO_LINGER 0), not a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class TcpProxy:
    """A threaded TCP proxy on 127.0.0.1:<free port> that forwards to `target` ("host:port").

    cut("reset"): every open connection is closed with an RST on both sides and every new
    one is accepted and reset at once (the peer sees "connection reset"/"unavailable").
    cut("blackhole"): nothing flows any more, but nothing is closed: open connections stall
    and new ones are accepted and held unanswered, as in a network partition.
    restore(): forwarding resumes; connections held by a blackhole are connected upstream
    then and carry on (what the peer had sent is delivered late, not lost).
    Counters (accepted, refused, held, bytes_up, bytes_down) help a test say what happened.
    """

    def __init__(self, target):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self._lock = threading.Lock()
        self._mode = "open"
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = False
        self._pairs = []      # [client, upstream] of live forwarded connections
        self._held = []       # clients accepted during a blackhole, not yet connected upstream
        self.accepted = 0
        self.refused = 0
        self.held_total = 0
        self.bytes_up = 0     # client -> server
        self.bytes_down = 0   # server -> client
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept_thread.start()

    def __str__(self):
        return self.address

    @property
    def mode(self):
        with self._lock:
            return self._mode

    def _accept_loop(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._closed:
                    _reset_close(client)
                    return
                self.accepted += 1
                mode = self._mode
                if mode == "reset":
                    self.refused += 1
                elif mode == "blackhole":
                    self.held_total += 1
                    self._held.append(client)
            if mode == "reset":
                _reset_close(client)
            elif mode == "open":
                self._connect(client)

    def _connect(self, client):
        try:
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
        except OSError:
            _reset_close(client)
            return
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = [client, upstream]
        with self._lock:
            if self._closed or self._mode == "reset":
                _reset_close(client)
                _reset_close(upstream)
                return
            self._pairs.append(pair)
        threading.Thread(target=self._pump, args=(pair, client, upstream, "up"), daemon=True).start()
        threading.Thread(target=self._pump, args=(pair, upstream, client, "down"), daemon=True).start()

    def _pump(self, pair, source, sink, direction):
        try:
            while True:
                # A blackhole: stop reading (the bytes wait in the kernel's buffers).
                while not self._flowing.wait(0.2):
                    if self._closed:
                        return
                readable, _, _ = select.select([source], [], [], 0.2)
                if not readable:
                    continue
                if not self._flowing.is_set():
                    continue
                data = source.recv(1 << 16)
                if not data:
                    break
                sink.sendall(data)
                with self._lock:
                    if direction == "up":
                        self.bytes_up += len(data)
                    else:
                        self.bytes_down += len(data)
        except (OSError, ValueError):
            pass
        # One side ended: end the other (with a FIN when it was a clean close).
        with self._lock:
            if pair in self._pairs:
                self._pairs.remove(pair)
        for sock in pair:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass

    def cut(self, mode="reset"):
        """Cuts the path: mode 'reset' (RST everything, refuse new) or 'blackhole'."""
        if mode not in ("reset", "blackhole"):
            raise ValueError("mode must be 'reset' or 'blackhole'")
        with self._lock:
            self._mode = mode
            pairs = list(self._pairs) if mode == "reset" else []
            if mode == "reset":
                self._pairs = []
        if mode == "blackhole":
            self._flowing.clear()
        for pair in pairs:
            for sock in pair:
                _reset_close(sock)
        log("proxy %s -> %s:%d cut (%s); %d connection(s) reset" % (
            self.address, self.target[0], self.target[1], mode, len(pairs)))

    def restore(self):
        with self._lock:
            self._mode = "open"
            held, self._held = self._held, []
        for client in held:
            self._connect(client)
        self._flowing.set()
        log("proxy %s restored (%d held connection(s) connected upstream)" % (self.address, len(held)))

    def stats(self):
        with self._lock:
            return {"mode": self._mode, "accepted": self.accepted, "refused": self.refused,
                    "held": self.held_total, "open": len(self._pairs),
                    "bytes_up": self.bytes_up, "bytes_down": self.bytes_down}

    def close(self):
        with self._lock:
            self._closed = True
            pairs, self._pairs = self._pairs, []
            held, self._held = self._held, []
        self._flowing.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        for sock in held + [s for pair in pairs for s in pair]:
            _reset_close(sock)
        self._accept_thread.join(timeout=5)


class FaultTestCase(RunyardTestCase):
    """RunyardTestCase plus faults: kill/restart a server or an agent in place, cut the path."""

    def setUp(self):
        super().setUp()
        self.retired = []  # ManagedProcesses replaced by a restart (their logs stay in self.tmp)

    @staticmethod
    def _sigkill(process, what):
        """SIGKILLs a ManagedProcess (and reaps it)."""
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.kill()
        log("%s (pid %d) killed" % (what, process.pid))

    def kill_server(self, server):
        """SIGKILLs the server (and reaps it)."""
        self._sigkill(server.process, "server %s" % server.address)

    def restart_server(self, server, timeout=60):
        """Starts runyard-server again with the same arguments, data dir and port (killing
        the running one with SIGKILL first if it is still there); updates `server` in place."""
        if server.process.alive():
            self.kill_server(server)
        port = server.address.rsplit(":", 1)[1]
        argv = list(server.process.argv)
        argv[argv.index("--listen") + 1] = "127.0.0.1:%s" % port
        self.retired.append(server.process)
        restarts = getattr(server, "restarts", 0) + 1
        name = "%s-restart%d" % (server.process.name.split("-restart")[0], restarts)
        deadline = time.monotonic() + timeout
        failures = []

        def started():
            process = ManagedProcess(name, argv, self.env, os.path.join(self.tmp, "%s.log" % name))
            try:
                process.wait_for_line(r"listening on 127\.0\.0\.1:%s\b" % port,
                                      timeout=max(1.0, deadline - time.monotonic()))
                return process
            except AssertionError as error:
                # The port may be briefly unavailable after the kill: try again, bounded.
                process.kill()
                failures.append(error)
                log("server did not come back on port %s yet:\n%s" % (port, process.tail(5)))
                return None

        process = wait_for(started, timeout=timeout, interval=0.2, what="the server to come back on port %s" % port,
                           describe=lambda: "last attempt: %s" % (failures[-1] if failures else "none"))
        server.process = process
        server.pid = process.pid
        server.restarts = restarts
        log("server restarted on %s (pid %d, same data dir)" % (server.address, process.pid))
        return server

    def kill_agent(self, agent):
        """SIGKILLs the agent (and reaps it); its runs' processes are left running."""
        self._sigkill(agent.process, "agent %s" % agent.name)

    def restart_agent(self, agent, timeout=60):
        """Starts runyard-agent again with the same arguments (same work dir and name); the
        old one must be gone (kill_agent). Returns a new Agent (a new registration/id)."""
        if agent.process.alive():
            self.kill_agent(agent)
        restarts = getattr(agent, "restarts", 0) + 1
        name = "agent-%s-restart%d" % (agent.name, restarts)
        process = ManagedProcess(name, list(agent.process.argv), self.env, os.path.join(self.tmp, name + ".log"))
        new = Agent(process, None, agent.name, agent.pool, agent.work_dir)
        new.restarts = restarts
        self.agents.append(new)
        match = process.wait_for_line(r"registered with \S+ as (agent-[0-9a-zA-Z]+)", timeout=timeout)
        new.agent_id = match.group(1)
        log("agent %s restarted on %s as %s" % (agent.name, agent.work_dir, new.agent_id))
        return new

    def start_proxy(self, target):
        """A TcpProxy to `target` (a Server or "host:port"), closed at cleanup."""
        proxy = TcpProxy(getattr(target, "address", target))
        proxy.upstream = target  # whose tokens go through it (harness: _server_of)
        self.addCleanup(proxy.close)
        return proxy

    def run_files(self, run_id, server=None):
        """{path: size} of a run's files in run history (`runyard files --json`)."""
        return {entry["path"]: int(entry["size"]) for entry in self.cli_json(["files", run_id], server=server)}

    def download(self, run_id, path, destination, server=None):
        """`runyard download RUN PATH -o DESTINATION`; fails the test if it fails."""
        self.run_cli(["download", run_id, path, "-o", destination], server=server, check=True)
        return destination

    def _cleanup(self):
        super()._cleanup()
        # An agent killed (or crashed) mid-run leaves its run's overlay mounts behind: unmount
        # them, then remove what the base cleanup could not.
        if os.path.isdir(self.tmp) and not os.environ.get("RUNYARD_E2E_KEEP"):
            if unmount_below(self.tmp):
                shutil.rmtree(self.tmp, ignore_errors=True)

    def describe_processes(self):
        text = super().describe_processes()
        for process in self.retired:
            text += "\n--- %s (replaced) log tail:\n%s" % (process.name, process.tail())
        return text
