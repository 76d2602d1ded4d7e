"""The channel itself: records survive a killed script, processes never interleave."""

import signal
import subprocess
import sys
import unittest

from sdk_support import LiveRunTestCase, run_script, sdk_env


class ChannelTest(LiveRunTestCase):

    def test_a_record_survives_the_script_being_killed_right_after(self):
        script = ("import os, signal\n"
                  "from azureml.core import Run\n"
                  "run = Run.get_context()\n"
                  "run.log('loss', 0.125)\n"
                  "os.kill(os.getpid(), signal.SIGKILL)\n")
        result = run_script(script, sdk_env(RUNYARD_RUN_API_DIR=self.api))
        self.assertEqual(result.returncode, -signal.SIGKILL, result.stderr)
        self.assertEqual([r["v"] for r in self.records()], [[0.125]])

    def test_lines_of_concurrent_processes_never_interleave(self):
        script = ("import sys\n"
                  "from runyard import Run\n"
                  "run = Run.get_context()\n"
                  "me = int(sys.argv[1])\n"
                  "for i in range(5000):\n"
                  "    run.log('p%d' % me, i)\n"
                  "run.log_list('list%d' % me, list(range(30000)))\n")
        env = sdk_env(RUNYARD_RUN_API_DIR=self.api)
        procs = [subprocess.Popen([sys.executable, "-c", script, str(n)], env=env)
                 for n in range(4)]
        self.assertEqual([p.wait(timeout=120) for p in procs], [0] * 4)
        records = self.records()  # every line parses: no torn or interleaved line
        for n in range(4):
            self.assertEqual([r["v"][0] for r in records if r["n"] == "p%d" % n],
                             list(range(5000)))
            self.assertEqual([v for r in records if r["n"] == "list%d" % n for v in r["v"]],
                             list(range(30000)))


if __name__ == "__main__":
    unittest.main()
