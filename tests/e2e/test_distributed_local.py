"""Acceptance (issue 16, local target): a real PyTorch DDP training with gloo, 2 nodes x 2
processes, all on this machine through `runyard run` (compute_target: local): every rank
ends with identical parameters and an exact all_reduce sum; rank 3 exiting with code 3
fails the run within seconds, names rank 3, and leaves no process of any rank behind."""
import json
import os
import re
import subprocess
import time
import unittest

import harness
from harness import PYTHON

DDP_SCRIPT = r"""
import json, os
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
torch.manual_seed(0)  # the same initial model everywhere; DDP broadcasts rank 0's anyway
model = DistributedDataParallel(torch.nn.Sequential(
    torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
data = torch.Generator().manual_seed(100 + rank)  # each rank its own synthetic shard
for step in range(20):
    x = torch.randn(32, 8, generator=data)
    y = x.sum(dim=1, keepdim=True)
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
total = torch.tensor([float(rank + 1)])
dist.all_reduce(total, op=dist.ReduceOp.SUM)
params = [p.detach().double().flatten().tolist() for p in model.module.parameters()]
result = {
    "rank": rank, "world": world, "allreduce": total.item(), "params": params,
    "loss": loss.item(),
    "env": {k: os.environ.get(k) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE",
                                          "NODE_RANK", "MASTER_ADDR", "MASTER_PORT")},
}
with open(os.path.join("outputs", "result_%d.json" % rank), "w") as f:
    json.dump(result, f)
print("rank", rank, "done, loss", loss.item(), flush=True)
dist.barrier()
dist.destroy_process_group()
"""

FAILING_SCRIPT = r"""
import os, sys, time
rank = int(os.environ["RANK"])
print("rank", rank, "pid", os.getpid(), flush=True)
if rank == 3:
    # Fails once every other rank runs (each wrote its pid file).
    while not all(os.path.exists("outputs/pid_%d" % r) for r in range(3)):
        time.sleep(0.01)
    print("rank 3 fails now", flush=True)
    sys.exit(3)
with open("outputs/pid_%d.tmp" % rank, "w") as f:
    f.write(str(os.getpid()))
os.rename("outputs/pid_%d.tmp" % rank, "outputs/pid_%d" % rank)
time.sleep(1000)
"""


def has_torch():
    try:
        return subprocess.run([PYTHON, "-c", "import torch, torch.distributed"],
                              capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class DistributedLocalTest(harness.RunyardTestCase):

    def write_spec(self, script_name, script_text, marker):
        source = self.make_dir("src-" + script_name.split(".")[0])
        with open(os.path.join(source, script_name), "w") as f:
            f.write(script_text)
        spec = os.path.join(self.tmp, script_name + ".yaml")
        with open(spec, "w") as f:
            f.write("\n".join([
                "experiment: distributed",
                "source_directory: " + json.dumps(source),
                "script: " + script_name,
                "compute_target: local",
                "max_run_duration_seconds: 600",
                "environment:",
                "  python:",
                "    user_managed_dependencies: true",
                "    interpreter_path: " + PYTHON,
                "  environment_variables:",
                "    %s: %s" % (harness.MARKER_VAR, marker),
                "    OMP_NUM_THREADS: '1'",
                "distributed_job_config:",
                "  pytorch: {process_count: 4, node_count: 2, communication_backend: gloo}",
                "",
            ]))
        return spec

    def run_id_of(self, out):
        match = re.search(r"^Run (run-[0-9a-zA-Z]+) ", out, re.M)
        self.assertIsNotNone(match, "no run summary in:\n" + out)
        return match.group(1)

    def download(self, run_id, path):
        target = os.path.join(self.tmp, run_id + "-" + os.path.basename(path))
        self.run_cli(["download", run_id, path, "-o", target], check=True)
        with open(target) as f:
            return f.read()

    @unittest.skipUnless(has_torch(), "Debian's python3-torch is not installed")
    def test_ddp_with_gloo_two_nodes_two_processes(self):
        marker = self.new_marker()
        spec = self.write_spec("ddp.py", DDP_SCRIPT, marker)
        rc, out, err = self.run_cli(["run", spec], timeout=600)
        self.assertEqual(rc, 0, "runyard run failed\nstdout:\n%s\nstderr:\n%s" % (out, err))
        run_id = self.run_id_of(out)
        self.assertIn("rank 0 done", out)  # rank 0's output is shown live

        results = [json.loads(self.download(run_id, "outputs/result_%d.json" % rank))
                   for rank in range(4)]
        ports = set()
        for rank, result in enumerate(results):
            self.assertEqual(result["rank"], rank)
            self.assertEqual(result["world"], 4)
            self.assertEqual(result["allreduce"], 10.0)  # 1 + 2 + 3 + 4, exactly
            self.assertEqual(result["env"]["RANK"], str(rank))
            self.assertEqual(result["env"]["LOCAL_RANK"], str(rank % 2))
            self.assertEqual(result["env"]["NODE_RANK"], str(rank // 2))
            self.assertEqual(result["env"]["LOCAL_WORLD_SIZE"], "2")
            self.assertEqual(result["env"]["MASTER_ADDR"], "127.0.0.1")
            ports.add(result["env"]["MASTER_PORT"])
            # DDP keeps every replica identical, bit for bit.
            self.assertEqual(result["params"], results[0]["params"], "rank %d differs" % rank)
        self.assertEqual(len(ports), 1, ports)

        run = self.status(run_id)
        self.assertEqual(run["status"], "Completed", run)
        files = {f["path"] for f in self.cli_json(["files", run_id])}
        for rank in range(4):
            self.assertIn("user_logs/std_log_process_%d.txt" % rank, files)
        self.assert_no_process(marker)

    @unittest.skipUnless(has_torch(), "Debian's python3-torch is not installed")
    def test_the_shipped_example_trains_and_saves_its_model(self):
        example = os.path.join(harness.SOURCE_DIR, "examples", "distributed-pytorch", "run.yaml")
        rc, out, err = self.run_cli(["run", example, "--", "--steps", "5"], timeout=600)
        self.assertEqual(rc, 0, "the example failed\nstdout:\n%s\nstderr:\n%s" % (out, err))
        run_id = self.run_id_of(out)
        files = {f["path"] for f in self.cli_json(["files", run_id])}
        self.assertIn("outputs/model.pt", files)
        for rank in range(4):
            self.assertIn("user_logs/std_log_process_%d.txt" % rank, files)

    def test_rank_three_exiting_three_fails_the_run_and_leaves_nothing(self):
        marker = self.new_marker()
        spec = self.write_spec("fail.py", FAILING_SCRIPT, marker)
        started = time.monotonic()
        rc, out, err = self.run_cli(["run", spec], timeout=300)
        elapsed = time.monotonic() - started
        self.assertNotEqual(rc, 0, "a failed rank must make `runyard run` fail\n%s\n%s" % (out, err))
        run_id = self.run_id_of(out)
        run = self.status(run_id)
        self.assertEqual(run["status"], "Failed", run)
        self.assertEqual(run["exit_code"], 3, run)
        self.assertEqual(run["error"]["code"], "UserError", run)
        self.assertIn("rank 3 (node 1, host ", run["error"]["message"])
        self.assertIn("exited with code 3", run["error"]["message"])
        self.assertLess(elapsed, 120, "the failure took %.1f s to end the run" % elapsed)
        self.assert_no_process(marker)
        self.assertIn("rank 3 fails now", self.download(run_id, "user_logs/std_log_process_3.txt"))


if __name__ == "__main__":
    unittest.main()
