"""Acceptance: `runyard agents` lists a server's agents with their capabilities and state.

Two real agents in different pools, one labelled by flags and one by its config file;
a run held by the test makes its agent busy, with the run among its active runs.
"""
import json
import os
import unittest

import harness
from harness import PYTHON


class AgentsListTest(harness.RunyardTestCase):

    def start_labelled_agent(self, server, name, pool, extra_args):
        """harness.start_agent, plus agent flags of our own (labels, a config file)."""
        work_dir = self.make_dir("agent-" + name)
        argv = [harness.AGENT_BIN, "--server", server.address, "--pool", pool, "--work-dir", work_dir,
                "--slots", "1", "--name", name, "--kill-grace-seconds", "2"] + list(extra_args) + self.agent_security_args(server)
        process = harness.ManagedProcess("agent " + name, argv, self.env,
                                         os.path.join(self.tmp, "agent-%s.log" % name))
        agent = harness.Agent(process, None, name, pool, work_dir)
        self.agents.append(agent)
        agent.agent_id = process.wait_for_line(r"registered with \S+ as (agent-[0-9a-zA-Z]+)").group(1)
        return agent

    def agents_by_name(self, server, *args):
        listed = self.cli_json(["agents"] + list(args), server=server)
        self.assertIsInstance(listed, list)
        return {agent["name"]: agent for agent in listed}

    def test_agents_show_capabilities_and_become_busy_with_a_run(self):
        server = self.start_server()
        cpu = self.start_labelled_agent(server, "cpu-a", "cpu", ["--labels", "gpu=none", "--labels", "zone=a"])
        config = os.path.join(self.tmp, "agent-gpu-b.yaml")
        with open(config, "w") as f:
            f.write("labels:\n  gpu: fake\n  zone: b\n")
        gpu = self.start_labelled_agent(server, "gpu-b", "gpu", ["--config", config])

        agents = self.agents_by_name(server)
        self.assertEqual(set(agents), {"cpu-a", "gpu-b"}, agents)
        for agent, expected_labels in ((cpu, {"gpu": "none", "zone": "a"}), (gpu, {"gpu": "fake", "zone": "b"})):
            listed = agents[agent.name]
            self.assertEqual(listed["agent_id"], agent.agent_id)
            self.assertEqual(listed["pool"], agent.pool)
            self.assertEqual(listed["state"], "idle", listed)
            self.assertEqual(listed["slots"], 1)
            self.assertEqual(listed["active_run_ids"], [])
            self.assertTrue(listed["hostname"])
            self.assertTrue(listed["version"])
            capabilities = listed["capabilities"]
            self.assertIsInstance(capabilities["cpus"], int)
            self.assertGreater(capabilities["cpus"], 0)
            self.assertLessEqual(capabilities["cpus"], os.cpu_count())
            self.assertIsInstance(capabilities["memory_bytes"], int)
            self.assertGreater(capabilities["memory_bytes"], 0)
            self.assertIsInstance(capabilities["gpus"], list)
            self.assertEqual(capabilities["labels"], expected_labels)
            self.assertGreaterEqual(listed["last_heartbeat_unix_ms"], listed["registered_unix_ms"])

        self.assertEqual(set(self.agents_by_name(server, "--pool", "gpu")), {"gpu-b"})
        self.assertEqual(self.agents_by_name(server, "--pool", "nope"), {})

        rc, table, err = self.run_cli(["agents"], server=server)
        self.assertEqual(rc, 0, err)
        lines = table.splitlines()
        self.assertEqual(lines[0].split()[:3], ["NAME", "POOL", "STATE"], table)
        row = next(line for line in lines if line.startswith("cpu-a "))
        self.assertIn(" idle ", row)
        self.assertIn("gpu=none,zone=a", row)
        self.assertRegex(row, r"\d+s ago\b")
        self.assertIn("agent token", row, "the IDENTITY column: the agent's own token")

        # A run that waits on the test's latch keeps its agent busy.
        source = self.source_dir("wait_for_file.py")
        release = self.latch()
        marker = self.new_marker()
        run_id = self.submit(["--source-directory", source, "--script", "wait_for_file.py",
                              "--interpreter", PYTHON, "--target", "cpu",
                              "-e", "%s=%s" % (harness.MARKER_VAR, marker), "--", release],
                             server=server)["run_id"]
        self.wait_for_log(run_id, "ready " + run_id, server=server)
        agents = self.agents_by_name(server)
        self.assertEqual(agents["cpu-a"]["state"], "busy", agents["cpu-a"])
        self.assertEqual(agents["cpu-a"]["active_run_ids"], [run_id])
        self.assertEqual(agents["gpu-b"]["state"], "idle", agents["gpu-b"])
        rc, table, err = self.run_cli(["agents", "--pool", "cpu"], server=server)
        self.assertEqual(rc, 0, err)
        self.assertIn(run_id, table)

        self.release_latch(release)
        run = self.wait_for_terminal(run_id, server=server)
        self.assertEqual(run["status"], "Completed", run)
        agents = self.agents_by_name(server)
        self.assertEqual(agents["cpu-a"]["state"], "idle", agents["cpu-a"])
        self.assertEqual(agents["cpu-a"]["active_run_ids"], [])
        self.assert_no_process(marker)

    def test_local_mode_has_no_agents(self):
        rc, out, err = self.run_cli(["agents"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "")
        self.assertIn("no agents in local mode", err)
        rc, out, err = self.run_cli(["agents", "--json"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), [])
        self.assertIn("no agents in local mode", err)


if __name__ == "__main__":
    unittest.main()
