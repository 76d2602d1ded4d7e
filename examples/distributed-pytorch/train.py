"""Distributed PyTorch example: data-parallel training (DDP, gloo) on synthetic data.

runyard starts every process (rank) itself and gives each the usual torch.distributed
environment (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, NODE_RANK, MASTER_ADDR,
MASTER_PORT), so `init_process_group("gloo")` needs no arguments and no torchrun.

Each rank trains on its own shard of a synthetic regression problem (y = x . w + noise);
DDP averages the gradients, so every rank ends with the same parameters. Two checks make
a broken setup fail loudly: an all_reduce of (rank + 1) must equal world*(world+1)/2
exactly, and the parameters of all ranks must be bit-identical after training. Rank 0
saves the model to outputs/model.pt (and logs the loss when the in-run API is there).

Outside runyard: torchrun --nproc_per_node 2 train.py
"""
import argparse
import os
import sys

import torch
import torch.distributed as dist
from torch import nn

FEATURES = 16


def synthetic_shard(rank, samples, generator):
    """This rank's samples of y = x . w + noise, with the same true w on every rank."""
    true_w = torch.linspace(-1.0, 1.0, FEATURES)
    x = torch.randn(samples, FEATURES, generator=generator)
    y = x @ true_w + 0.05 * torch.randn(samples, generator=generator)
    return x, y.unsqueeze(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    args = parser.parse_args()

    dist.init_process_group("gloo")  # MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE from runyard
    rank, world = dist.get_rank(), dist.get_world_size()
    node = os.environ.get("NODE_RANK", "?")
    print("rank %d of %d (node %s, local rank %s), master %s:%s" % (
        rank, world, node, os.environ.get("LOCAL_RANK"), os.environ.get("MASTER_ADDR"),
        os.environ.get("MASTER_PORT")), flush=True)

    torch.manual_seed(0)  # the same initial model on every rank
    model = nn.Sequential(nn.Linear(FEATURES, 32), nn.Tanh(), nn.Linear(32, 1))
    ddp = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=args.lr)
    generator = torch.Generator().manual_seed(1000 + rank)  # each rank its own data
    x, y = synthetic_shard(rank, args.steps * args.batch, generator)

    for step in range(args.steps):
        batch = slice(step * args.batch, (step + 1) * args.batch)
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(ddp(x[batch]), y[batch])
        loss.backward()  # DDP all-reduces (averages) the gradients here
        optimizer.step()
        # The mean loss over all ranks, for the log.
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss)
        mean_loss /= world
        if rank == 0 and (step % 10 == 0 or step == args.steps - 1):
            print("step %d: loss %.4f" % (step, mean_loss.item()), flush=True)

    # Check 1: an exact all_reduce sum.
    check = torch.tensor([float(rank + 1)], dtype=torch.float64)
    dist.all_reduce(check)
    expected = world * (world + 1) / 2
    # Check 2: every rank ends with the same parameters, bit for bit.
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    identical = all(torch.equal(g, gathered[0]) for g in gathered)
    print("rank %d: all_reduce %s (expected %s), parameters identical on all ranks: %s" % (
        rank, check.item(), expected, identical), flush=True)

    if rank == 0:
        os.makedirs("outputs", exist_ok=True)
        torch.save(model.state_dict(), "outputs/model.pt")
        print("saved outputs/model.pt", flush=True)
        try:
            from azureml.core import Run
            Run.get_context().log("final_loss", mean_loss.item())
        except ImportError:
            pass  # outside runyard, without its SDK on PYTHONPATH
    dist.barrier()
    dist.destroy_process_group()
    sys.exit(0 if identical and check.item() == expected else 1)


if __name__ == "__main__":
    main()
