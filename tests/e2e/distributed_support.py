"""What the distributed-run tests share (issue 16): their scripts, a spec writer, and a
test case with helpers to submit a spec and read a rank's log. No tests here."""
import json
import os
import shutil
import subprocess
import textwrap

import harness
from harness import PYTHON

try:
    subprocess.run([PYTHON, "-c", "import torch.distributed"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    HAVE_TORCH = True
except (OSError, subprocess.SubprocessError):
    HAVE_TORCH = False

# A real DDP training on synthetic data. Every rank checks, with the others, that the
# parameters are bit-identical after training and that an all_reduce sum is exact.
DDP_SCRIPT = r'''
import json, os, sys
import torch
import torch.distributed as dist
import torch.nn as nn

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
assert rank == int(os.environ["RANK"]) and world == int(os.environ["WORLD_SIZE"]), os.environ
torch.manual_seed(0)                       # the same initial model everywhere
model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))
ddp = nn.parallel.DistributedDataParallel(model)
opt = torch.optim.SGD(ddp.parameters(), lr=0.05)
gen = torch.Generator().manual_seed(100 + rank)  # each rank its own data
for step in range(20):
    x = torch.randn(32, 8, generator=gen)
    y = x.sum(dim=1, keepdim=True)
    opt.zero_grad()
    loss = nn.functional.mse_loss(ddp(x), y)
    loss.backward()
    opt.step()
flat = torch.cat([p.detach().flatten() for p in model.parameters()])
gathered = [torch.zeros_like(flat) for _ in range(world)]
dist.all_gather(gathered, flat)
identical = all(torch.equal(g, gathered[0]) for g in gathered)
total = torch.tensor([float(rank + 1)], dtype=torch.float64)
dist.all_reduce(total)
expected = world * (world + 1) / 2
print("rank %d of %d on node %s: identical=%s all_reduce=%r expected=%r master=%s:%s" % (
    rank, world, os.environ["NODE_RANK"], identical, total.item(), expected,
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"]), flush=True)
os.makedirs("outputs", exist_ok=True)
with open("outputs/rank_%d.json" % rank, "w") as f:
    json.dump({"rank": rank, "identical": identical, "sum": total.item(),
               "checksum": float(flat.double().sum()), "node": os.environ["NODE_RANK"],
               "master_port": os.environ["MASTER_PORT"]}, f)
dist.barrier()
dist.destroy_process_group()
sys.exit(0 if identical and total.item() == expected else 1)
'''

# Waits for every rank to start (a barrier through torch), then rank 3 exits 3 while the
# others block in a collective that can never finish.
FAILING_RANK_SCRIPT = r'''
import os, sys, signal
import torch
import torch.distributed as dist
dist.init_process_group("gloo")
rank = dist.get_rank()
dist.barrier()
print("rank %d passed the barrier" % rank, flush=True)
if rank == 3:
    sys.exit(3)
signal.pause()
'''

# No torch needed: prints its environment's distributed variables, then holds.
ENV_HOLD_SCRIPT = r'''
import json, os, signal, sys
keys = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "NODE_RANK", "GROUP_RANK",
        "MASTER_ADDR", "MASTER_PORT"]
print("env " + json.dumps({k: os.environ.get(k) for k in keys}), flush=True)
if os.environ.get("HOLD") == "1":
    signal.pause()
'''

TF_CONFIG_SCRIPT = r'''
import json, os, sys
config = json.loads(os.environ["TF_CONFIG"])
cluster, task = config["cluster"], config["task"]
workers, ps = cluster["worker"], cluster.get("ps", [])
assert len(workers) == 2 and len(ps) == 1, cluster
addresses = workers + ps
assert len(set(addresses)) == 3, addresses          # every task its own host:port
rank = int(os.environ["RANK"])
expected = ("worker", rank) if rank < 2 else ("ps", rank - 2)
assert (task["type"], task["index"]) == expected, (task, rank)
host, port = addresses[rank].rsplit(":", 1)
assert int(port) > 0
print("TF_CONFIG ok: task %s %d of cluster %s" % (task["type"], task["index"],
                                                  json.dumps(cluster, sort_keys=True)), flush=True)
'''


try:
    subprocess.run([PYTHON, "-c", "import mpi4py.MPI"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120)
    HAVE_MPI = shutil.which("mpirun") is not None
except (OSError, subprocess.SubprocessError):
    HAVE_MPI = False

# An mpi4py allreduce of rank + 1 over every rank, with Open MPI's own variables checked.
# FAIL_RANK (when set) exits 3 after a barrier while the others wait for ever.
MPI_SCRIPT = r'''
import os, signal, sys
from mpi4py import MPI
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
assert int(os.environ["OMPI_COMM_WORLD_RANK"]) == rank, os.environ
assert int(os.environ["OMPI_COMM_WORLD_SIZE"]) == size, os.environ
total = comm.allreduce(rank + 1, op=MPI.SUM)
print("mpi rank %d of %d local %s: allreduce=%d cwd_has_script=%s" % (
    rank, size, os.environ.get("OMPI_COMM_WORLD_LOCAL_RANK"), total,
    os.path.exists("mpi.py")), flush=True)
comm.Barrier()
if os.environ.get("FAIL_RANK") == str(rank):
    os._exit(3)  # a crash: sys.exit would wait in MPI_Finalize for the others
if os.environ.get("FAIL_RANK"):
    signal.pause()
'''

MPI_2x2 = "mpi:\n  process_count_per_node: 2\n  node_count: 2\n"


def spec_yaml(script, distributed, target="cpu", env=None, max_seconds=600):
    env_lines = "".join('    %s: "%s"\n' % (k, v) for k, v in (env or {}).items())
    return textwrap.dedent("""\
        experiment: distributed-e2e
        source_directory: .
        script: {script}
        compute_target: {target}
        max_run_duration_seconds: {max_seconds}
        environment:
          python:
            user_managed_dependencies: true
            interpreter_path: {python}
        """).format(script=script, target=target, max_seconds=max_seconds, python=PYTHON) + (
        "  environment_variables:\n" + env_lines if env_lines else "") + \
        "distributed_job_config:\n" + textwrap.indent(distributed, "  ")


PYTORCH_2x2 = "pytorch:\n  process_count: 4\n  node_count: 2\n  communication_backend: gloo\n"
PYTORCH_2x1 = "pytorch:\n  process_count: 2\n  node_count: 2\n  communication_backend: gloo\n"


class DistributedTestCase(harness.RunyardTestCase):
    def make_run_dir(self, script_name, script, distributed, env=None, target="cpu", max_seconds=600):
        source = self.make_dir("src-" + self.new_marker()[:9])
        with open(os.path.join(source, script_name), "w") as f:
            f.write(script)
        spec_path = os.path.join(source, "run.yaml")
        with open(spec_path, "w") as f:
            f.write(spec_yaml(script_name, distributed, target=target, env=env,
                              max_seconds=max_seconds))
        return spec_path

    def submit_spec(self, spec_path, server, extra=()):
        return self.submit([spec_path] + list(extra), server=server)["run_id"]

    def rank_log(self, run_id, rank, server):
        rc, out, err = self.run_cli(["logs", run_id, "--rank", str(rank)], server=server)
        self.assertEqual(rc, 0, err)
        return out

    def nodes(self, run):
        return sorted(run.get("nodes") or [], key=lambda node: node["node_rank"])

    @staticmethod
    def ranks_of_node(marker, node_rank):
        """Live processes of the run (by marker) whose NODE_RANK is node_rank."""
        wanted = ("\0NODE_RANK=%d\0" % node_rank).encode()
        return [pid for pid, _ in harness.find_processes(marker)
                if wanted in b"\0" + harness._read_proc(pid, "environ")]

