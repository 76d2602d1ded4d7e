"""Acceptance: a bad run spec is refused with exit code 2 naming the field, and queues nothing."""
import os
import textwrap
import unittest

import harness
from harness import PYTHON

# name -> (YAML body after the common header, text stderr must contain)
BAD_SPECS = {
    "unknown_top_level_field": ("scrpit: hello.py\n", "scrpit"),
    "unknown_nested_field": ("script: hello.py\nenvironment: {pythn: {}}\n", "pythn"),
    "unknown_python_field": ("script: hello.py\nenvironment:\n  python: {interpreter: /usr/bin/python3}\n",
                             "interpreter"),
    "wrong_type_integer": ("script: hello.py\nmax_run_duration_seconds: soon\n", "max_run_duration_seconds"),
    "scalar_for_list": ("script: hello.py\narguments: 5\n", "arguments"),
    "mapping_for_list": ("script: hello.py\narguments: {a: 1}\n", "arguments"),
    "list_for_string": ("script: [hello.py]\n", "script"),
    "missing_script": ("arguments: [x]\n", "script"),
    "negative_duration": ("script: hello.py\nmax_run_duration_seconds: -5\n", "max_run_duration_seconds"),
}


class BadSpecTest(harness.RunyardTestCase):

    def _write_specs(self, target):
        source = self.source_dir("hello.py")
        paths = {}
        for name, (body, _) in BAD_SPECS.items():
            path = os.path.join(source, name + ".yaml")
            with open(path, "w") as f:
                f.write("source_directory: .\ncompute_target: %s\n" % target)
                f.write("experiment: badspec\n")
                f.write(textwrap.dedent(body))
            paths[name] = path
        return source, paths

    def _check_refused(self, server=None, target="local"):
        source, paths = self._write_specs(target)
        before = self.list_runs(server=server)
        for name, path in paths.items():
            field = BAD_SPECS[name][1]
            for command in (["submit"], ["run"]):
                with self.subTest(spec=name, command=command[0]):
                    rc, out, err = self.run_cli(command + [path], server=server)
                    self.assertEqual(rc, 2, "%s: rc %d\nstdout:\n%s\nstderr:\n%s" % (name, rc, out, err))
                    self.assertIn(field, err, name)
                    self.assertNotIn("submitted", err)
                    self.assertEqual(out.strip(), "", "nothing on stdout for a refused spec")
        # A valid spec next to them does work (the refusals were about the fields).
        good = os.path.join(source, "good.yaml")
        with open(good, "w") as f:
            f.write("source_directory: .\ncompute_target: %s\nscript: hello.py\nexperiment: goodspec\n"
                    "environment: {python: {interpreter_path: %s, user_managed_dependencies: true}}\n"
                    % (target, PYTHON))
        after = self.list_runs(server=server)
        self.assertEqual([r["run_id"] for r in after], [r["run_id"] for r in before],
                         "a refused spec left a run behind")
        rc, out, err = self.run_cli(["run", good], server=server)
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(len(self.list_runs(server=server)), len(before) + 1)

    def test_bad_specs_local(self):
        self._check_refused()

    def test_bad_specs_server(self):
        server = self.start_server()
        self.start_agent(server, pool="cpu")
        self._check_refused(server=server, target="cpu")

    def test_bad_flags(self):
        source = self.source_dir("hello.py")
        before = len(self.list_runs())
        for args, needle in (
                (["--max-run-duration-seconds", "soon"], "max-run-duration-seconds"),
                (["-e", "NOEQUALS"], "NOEQUALS"),
                (["--experiment", "bad name!"], "experiment"),
        ):
            with self.subTest(args=args):
                rc, out, err = self.run_cli(["submit", "--source-directory", source, "--script", "hello.py",
                                             "--interpreter", PYTHON] + args)
                self.assertEqual(rc, 2, "%s: rc %d\n%s%s" % (args, rc, out, err))
                self.assertIn(needle, err)
        self.assertEqual(len(self.list_runs()), before)


if __name__ == "__main__":
    unittest.main()
