"""The systemd units in packaging/systemd: `systemd-analyze verify` finds nothing to say about
them, and they keep the settings the daemons rely on.

verify refuses a unit whose ExecStart binary does not exist, and the units name
/usr/bin/runyard-*, which a build tree does not install. So it verifies copies in which only
that path is changed, to the built binary; every other line is the packaged one. This works
offline with systemd 252 (no running systemd, no root). verify exits 0 even when it warns
(an unknown key, a value it cannot parse), so the test fails on any line it prints about
our units.
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import harness

UNIT_DIR = os.path.join(harness.SOURCE_DIR, "packaging", "systemd")
UNITS = {
    "runyard-agent.service": ("/usr/bin/runyard-agent", harness.AGENT_BIN),
    "runyard-server.service": ("/usr/bin/runyard-server", harness.SERVER_BIN),
}


def parse_unit(path):
    """{section: {key: [values]}} of a unit file (comments and blank lines skipped)."""
    sections = {}
    current = None
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1], {})
                continue
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def seconds(value):
    """A systemd time span as seconds: 720, 720s, 12min, 1h 30s."""
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "ms": 0.001}
    total = 0.0
    for number, unit in re.findall(r"(\d+)\s*([a-z]*)", value):
        total += int(number) * units[unit]
    return total


def yaml_default(path, key):
    """The value of `key:` or `# key:` in one of the packaged config files."""
    with open(path) as f:
        for line in f:
            match = re.match(r"#?\s*%s:\s*(\S+)" % re.escape(key), line)
            if match:
                return match.group(1)
    raise AssertionError("%s not in %s" % (key, path))


class SystemdUnitsTest(unittest.TestCase):

    def setUp(self):
        self.analyze = shutil.which("systemd-analyze")
        if self.analyze is None:
            self.skipTest("systemd-analyze is missing (Debian package systemd): units not verified")
        self.tmp = tempfile.mkdtemp(prefix="runyard-units-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def copy_for_verify(self, name, text=None):
        """The packaged unit with its ExecStart binary replaced by the built one."""
        installed_path, built_path = UNITS.get(name, (None, None))
        if text is None:
            with open(os.path.join(UNIT_DIR, name)) as f:
                text = f.read()
        if installed_path is not None:
            if not os.access(built_path, os.X_OK):
                self.fail("binary missing: %s (build first; RUNYARD_BIN_DIR=%s)" % (built_path, harness.BIN_DIR))
            changed = re.sub(r"(?m)^(Exec\w*=[-@:+!]*)%s(?=\s|$)" % re.escape(installed_path),
                             lambda m: m.group(1) + built_path, text)
            self.assertNotEqual(changed, text, "%s: no ExecStart with %s" % (name, installed_path))
            text = changed
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def verify(self, paths):
        """Runs verify; returns (rc, lines about our units, other lines)."""
        env = dict(os.environ)
        env.update({"SYSTEMD_LOG_LEVEL": "info", "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": "cat"})
        done = subprocess.run([self.analyze, "verify", "--man=no"] + paths, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        lines = (done.stdout + done.stderr).decode(errors="replace").splitlines()
        names = [os.path.basename(p) for p in paths] + [self.tmp]
        ours = [line for line in lines if any(n in line for n in names)]
        other = [line for line in lines if line not in ours and line.strip()]
        return done.returncode, ours, other

    def test_verify_finds_nothing(self):
        paths = [self.copy_for_verify(name) for name in sorted(UNITS)]
        rc, ours, other = self.verify(paths)
        if other:
            harness.log("systemd-analyze said about other units:\n" + "\n".join(other))
        self.assertEqual(ours, [], "systemd-analyze verify warns about our units")
        self.assertEqual(rc, 0, "systemd-analyze verify failed:\n" + "\n".join(other))

    def test_verify_would_catch_a_warning(self):
        """The check above can fail: verify reports an unknown key (and still exits 0)."""
        with open(os.path.join(UNIT_DIR, "runyard-server.service")) as f:
            text = f.read().replace("[Service]\n", "[Service]\nNoSuchSetting=1\n", 1)
        rc, ours, _ = self.verify([self.copy_for_verify("runyard-server.service", text)])
        self.assertTrue(any("NoSuchSetting" in line for line in ours), ours)

    def test_agent_unit_settings(self):
        service = parse_unit(os.path.join(UNIT_DIR, "runyard-agent.service"))["Service"]
        self.assertEqual(service["ExecStart"], ["/usr/bin/runyard-agent --config /etc/runyard/agent.yaml"])
        expected = {"Type": "notify", "NotifyAccess": "main", "Delegate": "yes", "KillMode": "mixed",
                    "Restart": "on-failure", "OOMPolicy": "continue"}
        for key, value in expected.items():
            self.assertEqual(service.get(key), [value], key)
        self.assertGreater(seconds(service["WatchdogSec"][-1]), 0)
        # A stop must outlast the drain and the kill grace that follows it, or systemd
        # SIGKILLs runs that were about to finish.
        config = os.path.join(harness.SOURCE_DIR, "packaging", "agent.yaml")
        drain = int(yaml_default(config, "drain_timeout_seconds"))
        grace = int(yaml_default(config, "kill_grace_seconds"))
        self.assertGreater(seconds(service["TimeoutStopSec"][-1]), drain + grace)
        self.assertNotIn("User", service, "the agent runs as root")

    def test_server_unit_settings(self):
        service = parse_unit(os.path.join(UNIT_DIR, "runyard-server.service"))["Service"]
        self.assertEqual(service["ExecStart"], ["/usr/bin/runyard-server --config /etc/runyard/server.yaml"])
        expected = {"Type": "notify", "User": "runyard", "Group": "runyard", "Restart": "on-failure",
                    "StateDirectory": "runyard-server", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
                    "ProtectHome": "yes", "PrivateTmp": "yes"}
        for key, value in expected.items():
            self.assertEqual(service.get(key), [value], key)
        # The packaged data_dir is the one folder the unit lets it write.
        config = os.path.join(harness.SOURCE_DIR, "packaging", "server.yaml")
        self.assertEqual(yaml_default(config, "data_dir"), "/var/lib/runyard-server")


if __name__ == "__main__":
    unittest.main()
