"""The Debian packages: built from this build tree, installed, run as the units run them, purged.

test_install_run_purge installs into the real system (/usr/bin, /etc/runyard, /var/lib, a
`runyard` system user), so it needs root and dpkg, and refuses to touch a machine that
already has runyard installed or that runs systemd (postinst would start the units there).
It purges whatever it installed, and removes the `runyard` user if it made it, even when
it fails. The daemons are started with the exact ExecStart= lines of the installed units;
only two lines of the installed config files are rewritten for the test: the server
listens on 127.0.0.1:0 (a free port it picks and logs: no clash with anything on 7878) and
the agent is pointed at that port.

ConfigFilesTest needs no root: every key the daemons know is in the packaged config files
and nothing else is, and what the files say (set keys, and commented-out keys as defaults)
is what the built daemons' --check-config reports.
"""
import fcntl
import glob
import grp
import os
import pwd
import re
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import unittest

import harness
import security

PACKAGES = ("runyard", "runyard-server", "runyard-agent", "runyard-python")
# runyard-python: pure Python, one .deb for every architecture.
ARCH_ALL = ("runyard-python",)
# Where runyard-python puts the SDK: <exe dir>/../share/runyard/python for /usr/bin's binaries
# (common/sdk_location.cc).
SDK_DIR = "/usr/share/runyard/python"
BINARIES = ("/usr/bin/runyard", "/usr/bin/runyard-server", "/usr/bin/runyard-agent")
UNIT_DIR = "/lib/systemd/system"
UNITS = ("runyard-agent.service", "runyard-server.service")
CONFIGS = {"runyard-agent": "/etc/runyard/agent.yaml", "runyard-server": "/etc/runyard/server.yaml"}
STATE_DIRS = ("/var/lib/runyard-server", "/var/lib/runyard-agent")
WANTS_DIR = "/etc/systemd/system/multi-user.target.wants"
PACKAGING = os.path.join(harness.SOURCE_DIR, "packaging")
# What systemd gives a service (systemd.exec(5), "Environment variables in spawned processes").
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"


def project_version():
    with open(os.path.join(harness.SOURCE_DIR, "CMakeLists.txt")) as f:
        return re.search(r"project\(runyard VERSION ([0-9.]+)", f.read()).group(1)


def run(argv, timeout=300, env=None):
    """(rc, stdout, stderr) of a command."""
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, env=env)
    return done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")


def run_dpkg(args, timeout=300):
    """dpkg ARGS, waiting (up to `timeout`) while apt or another dpkg holds dpkg's lock."""
    env = dict(os.environ)
    env["DEBIAN_FRONTEND"] = "noninteractive"
    last = {}

    def not_locked_out():
        last["result"] = run(["dpkg"] + list(args), env=env)
        rc, _, err = last["result"]
        return rc == 0 or "lock" not in err

    try:
        harness.wait_for(not_locked_out, timeout=timeout, interval=1, what="dpkg's lock")
    except harness.WaitTimeout:
        pass  # the caller sees dpkg's own failure
    return last["result"]


def installed_state(package):
    """dpkg's status of a package ('' when dpkg never heard of it)."""
    rc, out, _ = run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", package])
    return out.strip() if rc == 0 else ""


def unit_service_section(path):
    """{key: last value} of a unit file's [Service] section."""
    values, section = {}, None
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line
            elif section == "[Service]":
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
    return values


def rewrite_key(path, key, value):
    """Replaces the uncommented `key:` line of a config file."""
    with open(path) as f:
        text = f.read()
    changed, count = re.subn(r"(?m)^%s:.*$" % re.escape(key), "%s: %s" % (key, value), text)
    if count != 1:
        raise AssertionError("%s: expected one '%s:' line, found %d" % (path, key, count))
    with open(path, "w") as f:
        f.write(changed)


def config_value(path, key):
    with open(path) as f:
        match = re.search(r"(?m)^%s:\s*(\S+)" % re.escape(key), f.read())
    if not match:
        raise AssertionError("%s: no '%s:' line" % (path, key))
    return match.group(1)


class PackagesTest(harness.RunyardTestCase):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root: installs the .deb packages into this system")
        for tool in ("dpkg", "dpkg-deb", "dpkg-query", "cpack", "setpriv"):
            if shutil.which(tool) is None:
                self.skipTest("%s is missing: cannot build or install Debian packages here" % tool)
        # Two test runs (two build trees) must not install over each other: this file is
        # the same for both, so a lock on it serializes them.
        self.lock = open(__file__, "rb")
        self.addCleanup(self.lock.close)

        def locked():
            try:
                fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False

        try:
            harness.wait_for(locked, timeout=600, interval=1, what="the lock of test_packages")
        except harness.WaitTimeout:
            self.fail("another test_packages run held its lock for 10 minutes")
        if os.path.isdir("/run/systemd/system"):
            self.skipTest("systemd runs here: postinst would start the runyard units on this host "
                          "(this test is for containers and CI, where systemd does not run)")
        present = ["package " + p for p in PACKAGES if installed_state(p) not in ("", "un", "pn")]
        present += [p for p in BINARIES + tuple(CONFIGS.values()) + STATE_DIRS if os.path.lexists(p)]
        present += [p for p in ("/etc/runyard", "/usr/share/runyard") if os.path.lexists(p)]
        if present:
            self.skipTest("runyard is already installed here (%s): not replacing and purging it"
                          % ", ".join(present))
        self.user_existed = self._user_exists()
        super().setUp()
        # Runs before harness' cleanup (cleanups run last-in first-out), even on failure.
        self.addCleanup(self._uninstall)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _user_exists():
        try:
            pwd.getpwnam("runyard")
            return True
        except KeyError:
            return False

    def cli_argv(self, args, server=None):
        """The installed CLI, not the build tree's."""
        argv = ["/usr/bin/runyard"]
        if server is not None:
            argv += ["--server", getattr(server, "address", server)]
        return argv + list(args)

    def build_packages(self):
        config = os.path.join(harness.BIN_DIR, "CPackConfig.cmake")
        if not os.path.isfile(config):
            self.fail("%s is missing: configure the build tree with packaging/cpack.cmake" % config)
        out = self.make_dir("debs")
        # The build tree's binaries as they are (no rebuild); staging goes to `out` too.
        rc, stdout, stderr = run(["cpack", "-G", "DEB", "--config", config, "-B", out], timeout=600)
        self.assertEqual(rc, 0, "cpack failed:\n%s\n%s" % (stdout, stderr))
        arch = run(["dpkg", "--print-architecture"])[1].strip()
        debs = {}
        for package in PACKAGES:
            deb_arch = "all" if package in ARCH_ALL else arch
            path = os.path.join(out, "%s_%s_%s.deb" % (package, project_version(), deb_arch))
            self.assertTrue(os.path.isfile(path), "no %s in %s" % (path, os.listdir(out)))
            debs[package] = path
        return debs

    def deb_field(self, deb, field):
        rc, out, err = run(["dpkg-deb", "-f", deb, field])
        self.assertEqual(rc, 0, err)
        return out.strip()

    def check_deb(self, package, deb):
        """Control fields, maintainer scripts and conffiles of one .deb, before installing it."""
        self.assertEqual(self.deb_field(deb, "Package"), package)
        self.assertEqual(self.deb_field(deb, "Version"), project_version())
        for field in ("Maintainer", "Section", "Description", "Architecture"):
            self.assertTrue(self.deb_field(deb, field), "%s: no %s" % (package, field))
        depends = self.deb_field(deb, "Depends")
        control = self.make_dir("control-" + package)
        rc, _, err = run(["dpkg-deb", "-e", deb, control])
        self.assertEqual(rc, 0, err)
        extra = sorted(f for f in os.listdir(control) if f not in ("control", "md5sums"))
        if package == "runyard-python":
            # Pure Python: no libraries and no conffiles; postinst byte-compiles, prerm
            # removes the caches.
            self.assertEqual(self.deb_field(deb, "Architecture"), "all")
            self.assertEqual(self.deb_field(deb, "Section"), "python")
            self.assertEqual(depends, "python3 (>= 3.9)")
            self.assertEqual(extra, ["postinst", "prerm"])
            for script in extra:
                mode = os.stat(os.path.join(control, script)).st_mode
                self.assertEqual(stat.S_IMODE(mode), 0o755, "%s %s" % (package, script))
                rc, _, err = run(["sh", "-n", os.path.join(control, script)])
                self.assertEqual(rc, 0, "%s %s: %s" % (package, script, err))
            return
        # The binaries' own architecture, and the SDK of exactly their version.
        self.assertEqual(self.deb_field(deb, "Architecture"), run(["dpkg", "--print-architecture"])[1].strip())
        if package in ("runyard", "runyard-agent"):
            self.assertIn("runyard-python (= %s)" % project_version(), depends, "%s: Depends" % package)
        else:
            self.assertNotIn("runyard-python", depends, "the server runs no scripts")
        # From dpkg-shlibdeps: every binary links what gRPC needs (c-ares), nettle (SHA-256)
        # and the C++ runtime shared (gRPC itself is linked statically unless
        # RUNYARD_STATIC_GRPC=OFF; runyard's gRPC has no TLS, so no OpenSSL).
        for library in ("libnettle8", "libc-ares2", "libstdc++6"):
            self.assertIn(library, depends, "%s: Depends %s" % (package, depends))
        if package == "runyard":
            self.assertEqual(extra, [])
            return
        for script in ("postinst", "prerm", "postrm"):
            mode = os.stat(os.path.join(control, script)).st_mode
            self.assertEqual(stat.S_IMODE(mode), 0o755, "%s %s" % (package, script))
            rc, _, err = run(["sh", "-n", os.path.join(control, script)])
            self.assertEqual(rc, 0, "%s %s: %s" % (package, script, err))
        with open(os.path.join(control, "conffiles")) as f:
            self.assertEqual(f.read().split(), [CONFIGS[package]])
        if package == "runyard-agent":
            self.assertRegex(depends, r"(^|, )python3(,|$| )")
            self.assertIn("bubblewrap", self.deb_field(deb, "Recommends"))
        else:
            self.assertRegex(depends, r"(^|, )adduser(,|$| )")

    def dpkg(self, args):
        rc, out, err = run_dpkg(args)
        self.assertEqual(rc, 0, "dpkg %s failed:\n%s\n%s" % (" ".join(args), out, err))
        # A maintainer script's complaint, or dpkg's ("warning: ..."), fails the test.
        # deb-systemd-helper's notes on the enable links are what every Debian service prints.
        noise = [line for line in err.splitlines()
                 if line.strip() and not re.match(r"(Created symlink|Removed) .*runyard-(agent|server)\.service", line)]
        self.assertEqual(noise, [], "dpkg %s printed on stderr:\n%s" % (" ".join(args), err))
        return out

    def _uninstall(self):
        """Stops the daemons and purges the packages (even after a failure); removes the
        `runyard` user if this test made it."""
        for agent in self.agents:
            agent.process.stop(grace=60)
        for server in self.servers:
            server.process.stop(grace=10)
        if any(installed_state(p) not in ("", "un", "pn") for p in PACKAGES):
            rc, out, err = run_dpkg(["--purge", "--force-remove-reinstreq", "--force-depends"] + list(PACKAGES))
            if rc != 0:
                harness.log("cleanup: dpkg --purge failed:\n%s%s" % (out, err))
        if not self.user_existed and self._user_exists():
            run(["userdel", "runyard"])
            try:
                grp.getgrnam("runyard")
                run(["groupdel", "runyard"])
            except KeyError:
                pass

    def service_env(self, user=None):
        """Roughly what systemd gives the service: PATH, LANG, and for User= the user's own."""
        env = {"PATH": SERVICE_PATH, "LANG": "C.UTF-8", harness.SESSION_VAR: self.session}
        if user is not None:
            entry = pwd.getpwnam(user)
            env.update({"USER": user, "LOGNAME": user, "HOME": entry.pw_dir, "SHELL": entry.pw_shell})
        return env

    def start_unit(self, unit, ready_pattern):
        """Starts a unit's ExecStart= exactly, as its User=/Group= (through setpriv)."""
        service = unit_service_section(os.path.join(UNIT_DIR, unit))
        argv = shlex.split(service["ExecStart"])
        user = service.get("User")
        if user is not None:
            prefix = ["setpriv", "--reuid", user, "--regid", service.get("Group", user), "--init-groups"]
            if service.get("NoNewPrivileges") == "yes":
                prefix.append("--no-new-privs")
            argv = prefix + ["--"] + argv
        name = unit.split(".")[0]
        process = harness.ManagedProcess(name, argv, self.service_env(user), os.path.join(self.tmp, name + ".log"),
                                         cwd="/")
        return process, process.wait_for_line(ready_pattern, timeout=60)

    # ------------------------------------------------------------------ the test

    def test_install_run_purge(self):
        debs = self.build_packages()
        for package, deb in debs.items():
            self.check_deb(package, deb)

        self.dpkg(["-i"] + [debs[p] for p in PACKAGES])
        for package in PACKAGES:
            self.assertEqual(installed_state(package), "ii", package)

        # Files where the units and the docs say.
        for binary in BINARIES:
            self.assertTrue(os.access(binary, os.X_OK), binary)
        for unit in UNITS:
            with open(os.path.join(UNIT_DIR, unit)) as installed, \
                    open(os.path.join(PACKAGING, "systemd", unit)) as source:
                self.assertEqual(installed.read(), source.read(), unit)
        for package, config in CONFIGS.items():
            with open(config) as installed, open(os.path.join(PACKAGING, os.path.basename(config))) as source:
                self.assertEqual(installed.read(), source.read(), config)
            conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", package])[1].split()
            self.assertIn(config, conffiles, "%s: conffiles %s" % (package, conffiles))
        # The SDK, importable by the system's Python from where the binaries look for it.
        for module in ("runyard/__init__.py", "azureml/core/__init__.py"):
            self.assertTrue(os.path.isfile(os.path.join(SDK_DIR, module)), module)
        # Byte-compiled by postinst; importing as root (as a run may) writes more caches,
        # which prerm removes (the purge below must leave no folder behind).
        self.assertTrue(os.path.isdir(os.path.join(SDK_DIR, "runyard", "__pycache__")),
                        "postinst did not byte-compile the SDK")
        rc, out, err = run(["/usr/bin/python3", "-c",
                            'import sys; sys.path.insert(0,"%s"); import runyard, azureml.core' % SDK_DIR],
                           timeout=60, env={"PATH": SERVICE_PATH})
        self.assertEqual(rc, 0, "importing the installed SDK:\n%s%s" % (out, err))
        # Enabled as debhelper does, even without a running systemd.
        for unit in UNITS:
            self.assertTrue(os.path.islink(os.path.join(WANTS_DIR, unit)), unit)

        # The server's system user, and the state folders.
        user = pwd.getpwnam("runyard")
        group = grp.getgrnam("runyard")
        self.assertEqual(user.pw_gid, group.gr_gid)
        self.assertLess(user.pw_uid, 1000, "not a system user: %s" % (user,))
        self.assertEqual(user.pw_shell, "/usr/sbin/nologin")
        expected = {"/var/lib/runyard-server": (user.pw_uid, group.gr_gid, 0o750),
                    # 0711: runs dropped to run_as_user pass through to their folders.
                    "/var/lib/runyard-agent": (0, 0, 0o711)}
        for path, (uid, gid, mode) in expected.items():
            st = os.stat(path)
            self.assertEqual((st.st_uid, st.st_gid, oct(stat.S_IMODE(st.st_mode))), (uid, gid, oct(mode)), path)

        # The packaged configs, every line of them, are accepted by the installed daemons.
        for binary, config, as_user in (("/usr/bin/runyard-agent", CONFIGS["runyard-agent"], None),
                                        ("/usr/bin/runyard-server", CONFIGS["runyard-server"], "runyard")):
            argv = [binary, "--config", config, "--check-config"]
            if as_user:
                argv = ["setpriv", "--reuid", as_user, "--regid", as_user, "--init-groups", "--"] + argv
            rc, out, err = run(argv, timeout=60, env=self.service_env(as_user))
            self.assertEqual(rc, 0, "%s:\n%s%s" % (" ".join(argv), out, err))

        # Security set up on install: a certificate for this host, signed by a CA of the
        # installation, and the first admin token, private to the server's user.
        for path in ("/etc/runyard/tls/ca.pem", "/etc/runyard/tls/server.pem"):
            self.assertEqual(oct(stat.S_IMODE(os.stat(path).st_mode)), oct(0o644), path)
        key = os.stat("/etc/runyard/tls/server.key")
        self.assertEqual((key.st_uid, key.st_gid, oct(stat.S_IMODE(key.st_mode))), (0, group.gr_gid, oct(0o640)))
        admin = os.stat("/var/lib/runyard-server/admin-token")
        self.assertEqual((admin.st_uid, oct(stat.S_IMODE(admin.st_mode))), (user.pw_uid, oct(0o600)))

        # Start both as their units do. Only the addresses change: the server picks a free
        # port on loopback, and the agent is told it.
        rewrite_key(CONFIGS["runyard-server"], "listen", "127.0.0.1:0")
        process, match = self.start_unit("runyard-server.service", r"listening on 127\.0\.0\.1:(\d+)")
        server = harness.Server(process, "127.0.0.1:" + match.group(1), "/var/lib/runyard-server")
        self.servers.append(server)
        # The CLI as an admin on this host uses: the package's CA and the first admin token.
        self.env["RUNYARD_CA_FILE"] = "/etc/runyard/tls/ca.pem"
        server.admin_token = security.read_token("/var/lib/runyard-server/admin-token")
        # The pool's join token where the packaged agent.yaml reads it.
        self.run_cli(["tokens", "create", "--join", "--name", "packaged agents", "--output-file",
                      config_value(CONFIGS["runyard-agent"], "join_token_file")], server=server, check=True)
        self.assertEqual(os.stat("/proc/%d" % process.pid).st_uid, user.pw_uid, "server not running as runyard")
        self.assertTrue(os.path.exists("/var/lib/runyard-server/runyard.db"))

        rewrite_key(CONFIGS["runyard-agent"], "server", server.address)
        # As agent.yaml recommends: runs dropped to an unprivileged user, who must reach its
        # folder through the packaged work_dir.
        with open(CONFIGS["runyard-agent"], "a") as f:
            f.write("run_as_user: nobody\n")
        nobody = pwd.getpwnam("nobody")
        pool = config_value(CONFIGS["runyard-agent"], "pool")
        process, match = self.start_unit("runyard-agent.service", r"registered with \S+ as (agent-[0-9a-zA-Z]+)")
        agent = harness.Agent(process, match.group(1), "packaged", pool, config_value(CONFIGS["runyard-agent"], "work_dir"))
        self.agents.append(agent)

        # Logged before it registers: already collected.
        process.wait_for_line(r"in-run API: runs get the Python SDK %s on their PYTHONPATH" % re.escape(SDK_DIR),
                              timeout=5)

        # A run through the installed CLI; the installed agent gives it the packaged SDK.
        source = self.make_dir("src")
        with open(os.path.join(source, "whoami.py"), "w") as f:
            f.write("import os\nprint('hello from uid', os.getuid(), flush=True)\n"
                    "print('PYTHONPATH=' + os.environ.get('PYTHONPATH', ''), flush=True)\n"
                    "import azureml.core\nprint('azureml.core from', azureml.core.__file__, flush=True)\n")
        submitted = self.submit(["--source-directory", source, "--script", "whoami.py",
                                 "--interpreter", harness.PYTHON, "--target", pool], server=server)
        run_id = submitted["run_id"]
        finished = self.wait_for_terminal(run_id, server=server)
        self.assertEqual(finished["status"], "Completed", "%s\n%s" % (finished, self.logs(run_id, server=server)))
        logs = self.logs(run_id, server=server)
        self.assertIn("hello from uid %d" % nobody.pw_uid, logs)
        self.assertRegex(logs, r"(?m)^PYTHONPATH=%s(:|$)" % re.escape(SDK_DIR))
        self.assertIn("azureml.core from %s/azureml/core/__init__.py" % SDK_DIR, logs)
        self.assertTrue(os.path.isdir(agent.run_dir(run_id)), "the agent did not use %s" % agent.work_dir)

        # Stop as systemd would (SIGTERM to the main process): the agent drains (it is idle)
        # and the server shuts down; both exit 0.
        agent.process.stop(grace=60)
        server.process.stop(grace=10)
        self.assertEqual(agent.process.proc.returncode, 0, agent.process.tail())
        self.assertEqual(server.process.proc.returncode, 0, server.process.tail())  # a clean shutdown

        # Purge: everything the packages and their scripts made is gone.
        owned = []
        for package in PACKAGES:
            owned += [p for p in run(["dpkg-query", "-L", package])[1].splitlines()
                      if p and not os.path.isdir(p)]
        self.assertIn("/usr/bin/runyard", owned)
        self.dpkg(["--purge"] + list(PACKAGES))
        for package in PACKAGES:
            self.assertIn(installed_state(package), ("", "un", "pn"), package)
        left = [p for p in owned + list(STATE_DIRS) + ["/etc/runyard", "/usr/share/runyard"] if os.path.lexists(p)]
        left += [p for p in glob.glob("/usr/bin/runyard*") + glob.glob(os.path.join(UNIT_DIR, "runyard*"))]
        left += glob.glob("/etc/systemd/system/**/runyard*", recursive=True)   # enable links, masks
        left += glob.glob("/var/lib/systemd/deb-systemd-helper-*/**/runyard*", recursive=True)
        left += [p for p in ("/var/log/runyard-server", "/var/log/runyard-agent") if os.path.lexists(p)]
        self.assertEqual(sorted(set(left)), [], "left behind by dpkg --purge")
        # Debian practice: the system user stays (postrm says why); cleanup removes ours.
        self.assertTrue(self._user_exists())


class ConfigFilesTest(unittest.TestCase):
    """Every key the daemons read is in the packaged config files, and no other; a
    commented-out key shows the daemon's default."""

    @staticmethod
    def source_keys(folder):
        keys = set()
        for path in glob.glob(os.path.join(harness.SOURCE_DIR, folder, "*.cc")):
            with open(path) as f:
                text = f.read()
            # ConfigTable declarations: table->Add("key", "help", &field)
            keys.update(re.findall(r"\btable(?:->|\.)Add\(\s*\"([a-z0-9_]+)\"\s*,", text))
        return keys

    @staticmethod
    def documented_keys(name):
        """`key:` and `# key:` lines of packaging/NAME (lowercase keys only: not prose)."""
        with open(os.path.join(PACKAGING, name)) as f:
            return set(re.findall(r"(?m)^#? ?([a-z][a-z0-9_]*):(?:\s|$)", f.read()))

    def check(self, name, expected):
        documented = self.documented_keys(name)
        self.assertEqual(sorted(expected - documented), [], "keys missing from packaging/%s" % name)
        self.assertEqual(sorted(documented - expected), [], "packaging/%s documents unknown keys" % name)

    def check_values(self, name, binary, present=None):
        """The daemon's effective configuration (--check-config) from packaging/NAME is what
        the file says: its set keys, and its commented-out keys' values as defaults.
        `present`: {key: file} for keys naming files that exist only where the package is
        installed (postinst's certificate): the check reads a copy with those files
        instead, and compares the rest."""
        if not os.access(binary, os.X_OK):
            self.fail("binary missing: %s (build first; RUNYARD_BIN_DIR=%s)" % (binary, harness.BIN_DIR))
        path = os.path.join(PACKAGING, name)
        with open(path) as f:
            text = f.read()
        documented = dict(re.findall(r"(?m)^#? ?([a-z][a-z0-9_]*): (.*)$", text))
        if present:
            copy = os.path.join(self.tmp, name)
            for key, stand_in in present.items():
                text = re.sub(r"(?m)^%s: .*$" % key, "%s: %s" % (key, stand_in), text)
            with open(copy, "w") as f:
                f.write(text)
            path = copy
        rc, out, err = run([binary, "--config", path, "--check-config"], timeout=60)
        self.assertEqual(rc, 0, "%s --check-config refused %s:\n%s" % (binary, path, err))
        effective = dict(re.findall(r"(?m)^([a-z0-9_]+): (.*?)  # ", out))
        for key in present or {}:
            self.assertEqual(effective.pop(key), present[key])
            documented.pop(key)
        self.assertEqual(effective, documented, "packaging/%s differs from %s --check-config" % (name, binary))

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="runyard-config-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_agent_defaults(self):
        join = os.path.join(self.tmp, "join-token")
        with open(join, "w") as f:
            f.write("ryj_000000000000_" + "A" * 43 + "\n")
        os.chmod(join, 0o600)
        self.check_values("agent.yaml", harness.AGENT_BIN,
                          present={"server_ca_file": security.ca_file(), "join_token_file": join})

    def test_server_defaults(self):
        tls = security.tls_material()
        self.check_values("server.yaml", harness.SERVER_BIN,
                          present={"tls_cert_file": tls.cert, "tls_key_file": tls.key})

    def test_agent_yaml(self):
        keys = self.source_keys("agent")
        self.assertIn("drain_timeout_seconds", keys, "agent/*.cc: ConfigTable keys not found")
        self.check("agent.yaml", keys)

    def test_server_yaml(self):
        keys = self.source_keys("server")
        self.assertIn("listen", keys, "server/*.cc: ConfigTable keys not found")
        self.check("server.yaml", keys)


if __name__ == "__main__":
    unittest.main()
