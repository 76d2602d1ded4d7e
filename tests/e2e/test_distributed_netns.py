"""Issue 16, acceptance 1 across hosts: a PyTorch DDP run (gloo) on two agents that live
in two network namespaces, joined by veth links to a bridge the test makes, so that
MASTER_ADDR is a real non-loopback address and the ranks of node 1 reach node 0 over it.

  root namespace: bridge ry<id> 10.213.N.1/24, the server listening there
  namespace A:    eth0 10.213.N.2/24, agent node0 (network_interface eth0)
  namespace B:    eth0 10.213.N.3/24, agent node1 (network_interface eth0)

Needs root, iproute2 and veth/bridge support; skipped (saying why) without them.
Nothing here leaves the machine: the addresses exist only on the test's own links.
"""
import json
import os
import random
import re
import subprocess
import unittest
import uuid

import harness
import security
from distributed_support import DDP_SCRIPT, HAVE_TORCH, PYTORCH_2x2, DistributedTestCase


def sh(*argv, check=True):
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)


def can_make_namespaces():
    if os.geteuid() != 0:
        return "needs root (ip netns)"
    if not os.path.exists("/usr/sbin/ip") and not os.path.exists("/sbin/ip"):
        return "iproute2 is not installed"
    probe = "rynsprobe%04x" % random.randrange(1 << 16)
    made = sh("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return "cannot create a network namespace: " + made.stderr.strip()
    sh("ip", "netns", "del", probe, check=False)
    return None


WHY_NOT = can_make_namespaces()


class TwoHostLinks:
    """Two namespaces with eth0 on a bridge in the root namespace; removed by close()."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.subnet = random.randrange(2, 250)
        self.bridge = "ry" + tag
        self.namespaces = ["ry%sa" % tag, "ry%sb" % tag]
        self.server_ip = "10.213.%d.1" % self.subnet
        self.node_ips = ["10.213.%d.%d" % (self.subnet, 2 + i) for i in range(2)]
        try:
            sh("ip", "link", "add", self.bridge, "type", "bridge")
            sh("ip", "addr", "add", self.server_ip + "/24", "dev", self.bridge)
            sh("ip", "link", "set", self.bridge, "up")
            for i, namespace in enumerate(self.namespaces):
                host_end = "%sv%d" % (self.bridge, i)
                sh("ip", "netns", "add", namespace)
                sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0",
                   "netns", namespace)
                sh("ip", "link", "set", host_end, "master", self.bridge)
                sh("ip", "link", "set", host_end, "up")
                sh("ip", "-n", namespace, "addr", "add", self.node_ips[i] + "/24", "dev", "eth0")
                sh("ip", "-n", namespace, "link", "set", "eth0", "up")
                sh("ip", "-n", namespace, "link", "set", "lo", "up")
        except subprocess.CalledProcessError as error:
            self.close()
            raise unittest.SkipTest("cannot make the test's links: %s %s" % (error.cmd, error.stderr))

    def close(self):
        for namespace in self.namespaces:
            sh("ip", "netns", "del", namespace, check=False)  # takes its veth along
        sh("ip", "link", "del", self.bridge, check=False)


@unittest.skipIf(WHY_NOT, WHY_NOT or "")
class DistributedAcrossNamespacesTest(DistributedTestCase):

    def start_server_on(self, ip):
        data_dir = self.make_dir("server-netns")
        argv = [harness.SERVER_BIN, "--listen", ip + ":0", "--data-dir", data_dir,
                "--gang-port-range", self.gang_port_range()] + security.server_args(data_dir, (ip,))
        process = harness.ManagedProcess("server", argv, self.env,
                                         os.path.join(self.tmp, "server-netns.log"))
        server = harness.Server(process, None, data_dir)
        self.servers.append(server)
        match = process.wait_for_line(r"listening on %s:(\d+)" % re.escape(ip), timeout=60)
        server.address = "%s:%s" % (ip, match.group(1))
        self.enroll(server)
        return server

    def start_agent_in(self, namespace, server, name):
        work_dir = self.make_dir("agent-" + name)
        argv = ["ip", "netns", "exec", namespace, harness.AGENT_BIN, "--server", server.address,
                "--pool", "cpu", "--work-dir", work_dir, "--slots", "1", "--name", name,
                "--kill-grace-seconds", "2", "--network-interface", "eth0"] + self.agent_security_args(server)
        process = harness.ManagedProcess("agent " + name, argv, self.env,
                                         os.path.join(self.tmp, "agent-%s.log" % name))
        agent = harness.Agent(process, None, name, "cpu", work_dir)
        self.agents.append(agent)
        match = process.wait_for_line(r"registered with \S+ as (agent-[0-9a-zA-Z]+)", timeout=60)
        agent.agent_id = match.group(1)
        return agent

    @unittest.skipUnless(HAVE_TORCH, "python3-torch is not installed")
    def test_ddp_across_two_network_namespaces(self):
        links = TwoHostLinks()
        self.addCleanup(links.close)
        server = self.start_server_on(links.server_ip)
        agents = [self.start_agent_in(ns, server, "node%d" % i)
                  for i, ns in enumerate(links.namespaces)]
        spec = self.make_run_dir("ddp.py", DDP_SCRIPT, PYTORCH_2x2)
        run_id = self.submit_spec(spec, server)
        run = self.wait_for_terminal(run_id, server=server, timeout=300)
        self.assertEqual(run["status"], "Completed", json.dumps(run, indent=1) +
                         "".join(self.rank_log(run_id, r, server) for r in range(4)) +
                         self.describe_processes())
        nodes = self.nodes(run)
        self.assertEqual(sorted(n["agent_id"] for n in nodes), sorted(a.agent_id for a in agents))
        node0_ip = links.node_ips[[a.agent_id for a in agents].index(nodes[0]["agent_id"])]
        for rank in range(4):
            log = self.rank_log(run_id, rank, server)
            self.assertIn("rank %d of 4 on node %d: identical=True all_reduce=10.0 expected=10.0"
                          % (rank, rank // 2), log)
            self.assertIn("master=%s:" % node0_ip, log)  # a real address, not loopback


if __name__ == "__main__":
    unittest.main()
