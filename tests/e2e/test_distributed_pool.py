"""Issue 16 acceptance on a real pool: a real server and real agents on 127.0.0.1, each
node of a distributed run on its own agent (one host here; the network-namespace variant
is test_distributed_netns.py).

- PyTorch DDP (Debian's python3-torch, gloo) across 2 agents x 2 processes: every rank
  ends with identical parameters, an all_reduce sum is exact.
- Rank 3 exiting with code 3 fails the run, names rank 3, and leaves no process of any
  rank; an agent SIGKILLed mid-run fails the gang with AgentLost.
- Two 2-node runs on 3 agents both complete, one after the other; a 2-node run with one
  agent says "1 of 2" and starts when a second agent joins; two gangs side by side on 4
  agents of one host get distinct MASTER_PORTs.
- MPI (Debian's openmpi-bin, python3-mpi4py) across 2 agents x 2 slots: an allreduce with
  no ssh (mpirun reaches node 1 through runyard); a failing rank fails the run.
- TensorFlow: every task's TF_CONFIG is checked by the script itself.
- Cancel stops every rank of every node.
"""
import json
import os
import signal
import unittest

import harness
from distributed_support import (DDP_SCRIPT, ENV_HOLD_SCRIPT, FAILING_RANK_SCRIPT, HAVE_MPI,
                                 HAVE_TORCH, MPI_2x2, MPI_SCRIPT, PYTORCH_2x1, PYTORCH_2x2,
                                 TF_CONFIG_SCRIPT, DistributedTestCase)
from harness import wait_for


class DistributedPoolTest(DistributedTestCase):

    # ------------------------------------------------------------------ PyTorch DDP

    @unittest.skipUnless(HAVE_TORCH, "python3-torch is not installed")
    def test_ddp_across_two_agents_with_two_processes_each(self):
        server = self.start_server()
        agents = [self.start_agent(server, name="node%d" % i) for i in range(2)]
        run_id = self.submit_spec(self.make_run_dir("ddp.py", DDP_SCRIPT, PYTORCH_2x2), server)
        run = self.wait_for_terminal(run_id, server=server, timeout=300)
        self.assertEqual(run["status"], "Completed", json.dumps(run, indent=1) +
                         "".join(self.rank_log(run_id, r, server) for r in range(4)) +
                         self.describe_processes())
        nodes = self.nodes(run)
        self.assertEqual([node["node_rank"] for node in nodes], [0, 1], run)
        self.assertEqual({node["agent_id"] for node in nodes}, {a.agent_id for a in agents})
        ports = set()
        for rank in range(4):
            log = self.rank_log(run_id, rank, server)
            self.assertIn("rank %d of 4 on node %d: identical=True all_reduce=10.0 expected=10.0"
                          % (rank, rank // 2), log)
            ports.add(log.split("master=")[1].split()[0])
        self.assertEqual(len(ports), 1, ports)  # one MASTER_ADDR:MASTER_PORT for all
        # `runyard logs` shows rank 0 by default; --all prefixes every line with its rank.
        self.assertIn("rank 0 of 4", self.logs(run_id, server=server))
        rc, out, err = self.run_cli(["logs", run_id, "--all"], server=server)
        self.assertEqual(rc, 0, err)
        for rank in range(4):
            self.assertIn("[rank %d] rank %d of 4" % (rank, rank), out)

    # ------------------------------------------------------------------ one fate

    @unittest.skipUnless(HAVE_TORCH, "python3-torch is not installed")
    def test_rank_3_exiting_3_fails_the_run_and_no_rank_survives(self):
        server = self.start_server()
        for i in range(2):
            self.start_agent(server, name="node%d" % i)
        marker = self.new_marker()
        spec = self.make_run_dir("fail3.py", FAILING_RANK_SCRIPT, PYTORCH_2x2,
                                 env={harness.MARKER_VAR: marker})
        run_id = self.submit_spec(spec, server)
        run = self.wait_for_terminal(run_id, server=server, timeout=300)
        self.assertEqual(run["status"], "Failed", run)
        message = run["error"]["message"]
        self.assertIn("rank 3", message, run)
        self.assertIn("node 1", message, run)
        self.assertIn("code 3", message, run)
        self.assertEqual(run["exit_code"], 3, run)
        self.assert_no_process(marker, timeout=10)
        # Failed -> the last rank gone: the run ended only once every node had ended.
        for node in self.nodes(run):
            self.assertIn(node["status"], harness.TERMINAL, node)

    def test_agent_killed_mid_run_fails_the_gang_with_agent_lost(self):
        server = self.start_server(lease_seconds=2, agent_lost_seconds=2)
        agents = [self.start_agent(server, name="node%d" % i) for i in range(2)]
        marker = self.new_marker()
        spec = self.make_run_dir("hold.py", ENV_HOLD_SCRIPT, PYTORCH_2x1,
                                 env={harness.MARKER_VAR: marker, "HOLD": "1"})
        run_id = self.submit_spec(spec, server)
        run = self.wait_for_status(run_id, "Running", server=server, timeout=120)
        for rank in range(2):
            wait_for(lambda: "env " in self.rank_log(run_id, rank, server), timeout=60,
                     what="rank %d to start" % rank)
        node1 = [n for n in self.nodes(run) if n["node_rank"] == 1][0]
        victim = [a for a in agents if a.agent_id == node1["agent_id"]][0]
        os.kill(victim.pid, signal.SIGKILL)
        victim.process.kill()
        run = self.wait_for_terminal(run_id, server=server, timeout=60)
        self.assertEqual(run["status"], "Failed", run)
        self.assertEqual(run["error"]["code"], "AgentLost", run)
        self.assertIn("node 1", run["error"]["message"], run)
        self.assertIn(victim.agent_id, run["error"]["message"], run)
        # The surviving node's rank is stopped by the gang's fate.
        wait_for(lambda: not self.ranks_of_node(marker, 0), timeout=20,
                 what="node 0's rank to be stopped")
        # The SIGKILLed agent could not stop its own rank; its next start (systemd restarts
        # it) finds the run in its journal and kills what it left.
        self.assertTrue(self.ranks_of_node(marker, 1), "node 1's rank died with its agent?")
        self.start_agent(server, name=victim.name)
        self.assert_no_process(marker, timeout=30)

    def test_max_run_duration_stops_every_rank_of_every_node(self):
        server = self.start_server()
        for i in range(2):
            self.start_agent(server, name="node%d" % i)
        marker = self.new_marker()
        spec = self.make_run_dir("hold.py", ENV_HOLD_SCRIPT, PYTORCH_2x2, max_seconds=3,
                                 env={harness.MARKER_VAR: marker, "HOLD": "1"})
        run_id = self.submit_spec(spec, server)
        run = self.wait_for_terminal(run_id, server=server, timeout=120)
        self.assertEqual(run["status"], "Canceled", run)
        self.assertEqual(run["error"]["code"], "MaxRunDurationExceeded", run)
        for node in self.nodes(run):
            self.assertEqual(node["status"], "Canceled", node)
        self.assert_no_process(marker, timeout=20)

    # ------------------------------------------------------------------ gang scheduling

    def test_two_gangs_on_three_agents_run_one_after_the_other(self):
        server = self.start_server()
        for i in range(3):
            self.start_agent(server, name="node%d" % i)
        spec = self.make_run_dir("env.py", ENV_HOLD_SCRIPT, PYTORCH_2x1)
        first = self.submit_spec(spec, server)
        second = self.submit_spec(spec, server)
        runs = [self.wait_for_terminal(run_id, server=server, timeout=180) for run_id in (first, second)]
        for run in runs:
            self.assertEqual(run["status"], "Completed", run)
            self.assertEqual(len(self.nodes(run)), 2, run)
            self.assertEqual(len({n["agent_id"] for n in self.nodes(run)}), 2, run)

    def test_two_gangs_side_by_side_get_distinct_ports(self):
        server = self.start_server()
        for i in range(4):
            self.start_agent(server, name="node%d" % i)
        marker = self.new_marker()
        spec = self.make_run_dir("hold.py", ENV_HOLD_SCRIPT, PYTORCH_2x1,
                                 env={harness.MARKER_VAR: marker, "HOLD": "1"})
        run_ids = [self.submit_spec(spec, server) for _ in range(2)]
        ports = []
        for run_id in run_ids:
            self.wait_for_status(run_id, "Running", server=server, timeout=120)
            envs = []
            for rank in range(2):
                log = wait_for(lambda: self.rank_log(run_id, rank, server) if "env " in
                               self.rank_log(run_id, rank, server) else None, timeout=60,
                               what="rank %d of %s to print its env" % (rank, run_id))
                envs.append(json.loads(log.split("env ", 1)[1].splitlines()[0]))
            self.assertEqual(len({e["MASTER_PORT"] for e in envs}), 1, envs)
            self.assertEqual([e["RANK"] for e in envs], ["0", "1"])
            ports.append(envs[0]["MASTER_PORT"])
        self.assertNotEqual(ports[0], ports[1], "two gangs on one host share MASTER_PORT")
        for run_id in run_ids:
            self.run_cli(["cancel", run_id], server=server, check=True)
        for run_id in run_ids:
            self.assertEqual(self.wait_for_terminal(run_id, server=server)["status"], "Canceled")
        self.assert_no_process(marker, timeout=20)

    def test_gang_waits_for_a_second_agent_and_starts_when_it_joins(self):
        server = self.start_server()
        self.start_agent(server, name="node0")
        spec = self.make_run_dir("env.py", ENV_HOLD_SCRIPT, PYTORCH_2x1)
        run_id = self.submit_spec(spec, server)
        run = wait_for(lambda: (lambda r: r if "1 of 2" in (r.get("status_detail") or "") else None)(
            self.status(run_id, server=server)), timeout=60, what="status_detail to say 1 of 2")
        self.assertEqual(run["status"], "Queued", run)
        rc, out, err = self.run_cli(["status", run_id], server=server)
        self.assertIn("waiting for nodes: 1 of 2", out)
        self.start_agent(server, name="node1")
        run = self.wait_for_terminal(run_id, server=server, timeout=120)
        self.assertEqual(run["status"], "Completed", run)

    # ------------------------------------------------------------------ MPI across nodes

    def start_agents_without_ssh(self, server, count):
        """Agents whose PATH starts with an ssh and an rsh that only leave a trace: the
        daemons on the other nodes must be started through runyard, never by them."""
        shims = self.make_dir("no-ssh")
        trace = os.path.join(self.tmp, "ssh-was-called")
        for name in ("ssh", "rsh"):
            path = os.path.join(shims, name)
            with open(path, "w") as f:
                f.write("#!/bin/sh\necho \"$0 $*\" >> %s\nexit 255\n" % trace)
            os.chmod(path, 0o755)
        self.env = dict(self.env, PATH=shims + os.pathsep + self.env.get("PATH", os.defpath))
        agents = [self.start_agent(server, name="node%d" % i) for i in range(count)]
        return agents, trace

    @unittest.skipUnless(HAVE_MPI, "mpirun (openmpi-bin) or mpi4py (python3-mpi4py) is missing")
    def test_mpi_allreduce_across_two_agents_with_two_slots_each(self):
        server = self.start_server()
        agents, ssh_trace = self.start_agents_without_ssh(server, 2)
        run_id = self.submit_spec(self.make_run_dir("mpi.py", MPI_SCRIPT, MPI_2x2), server)
        run = self.wait_for_terminal(run_id, server=server, timeout=300)
        self.assertEqual(run["status"], "Completed", json.dumps(run, indent=1) +
                         self.logs(run_id, server=server) + self.describe_processes())
        self.assertEqual({node["agent_id"] for node in self.nodes(run)},
                         {a.agent_id for a in agents})
        main_log = self.logs(run_id, server=server)  # mpirun's output: every rank's lines
        for rank in range(4):
            line = "mpi rank %d of 4 local %d: allreduce=10 cwd_has_script=True" % (rank, rank % 2)
            self.assertIn(line, main_log)
            self.assertIn(line, self.rank_log(run_id, rank, server))  # and each rank's own
        self.assertFalse(os.path.exists(ssh_trace), "ssh or rsh was called")

    @unittest.skipUnless(HAVE_MPI, "mpirun (openmpi-bin) or mpi4py (python3-mpi4py) is missing")
    def test_mpi_rank_3_exiting_3_fails_the_run_and_no_process_survives(self):
        server = self.start_server()
        self.start_agents_without_ssh(server, 2)
        marker = self.new_marker()
        spec = self.make_run_dir("mpi.py", MPI_SCRIPT, MPI_2x2,
                                 env={harness.MARKER_VAR: marker, "FAIL_RANK": "3"})
        run_id = self.submit_spec(spec, server)
        run = self.wait_for_terminal(run_id, server=server, timeout=300)
        self.assertEqual(run["status"], "Failed", run)
        self.assertNotEqual(run.get("exit_code", 0), 0, run)
        self.assertIn("mpi rank 3 of 4", self.rank_log(run_id, 3, server))
        self.assert_no_process(marker, timeout=20)
        for node in self.nodes(run):
            self.assertIn(node["status"], harness.TERMINAL, node)

    # ------------------------------------------------------------------ TensorFlow, cancel

    def test_tf_config_of_every_task(self):
        server = self.start_server()
        for i in range(2):
            self.start_agent(server, name="node%d" % i)
        spec = self.make_run_dir("tf.py", TF_CONFIG_SCRIPT,
                                 "tensorflow:\n  worker_count: 2\n  parameter_server_count: 1\n"
                                 "  node_count: 2\n")
        run_id = self.submit_spec(spec, server)
        run = self.wait_for_terminal(run_id, server=server, timeout=120)
        self.assertEqual(run["status"], "Completed", json.dumps(run, indent=1) +
                         "".join(self.rank_log(run_id, r, server) for r in range(3)))
        for rank, expected in enumerate(["task worker 0", "task worker 1", "task ps 0"]):
            self.assertIn("TF_CONFIG ok: " + expected, self.rank_log(run_id, rank, server))

    def test_cancel_stops_every_rank_of_every_node(self):
        server = self.start_server()
        for i in range(2):
            self.start_agent(server, name="node%d" % i)
        marker = self.new_marker()
        spec = self.make_run_dir("hold.py", ENV_HOLD_SCRIPT, PYTORCH_2x2,
                                 env={harness.MARKER_VAR: marker, "HOLD": "1"})
        run_id = self.submit_spec(spec, server)
        self.wait_for_status(run_id, "Running", server=server, timeout=120)
        wait_for(lambda: sum(len(self.ranks_of_node(marker, n)) for n in (0, 1)) == 4,
                 timeout=60, what="4 ranks to run")
        self.run_cli(["cancel", run_id], server=server, check=True)
        run = self.wait_for_terminal(run_id, server=server, timeout=60)
        self.assertEqual(run["status"], "Canceled", run)
        self.assert_no_process(marker, timeout=20)


if __name__ == "__main__":
    unittest.main()
