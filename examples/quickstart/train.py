"""Quickstart: train a small neural network on a synthetic two-spirals data set with numpy.

Prints progress every epoch, logs loss and accuracy per epoch with Azure ML's run.log
(`runyard metrics RUN` shows them), writes the trained model to outputs/model.npz and the
same metrics to logs/metrics.csv (both land in the run's history).
"""
import argparse
import csv
import os
import time

import numpy as np
# Written as an Azure ML v1 script, unmodified: under runyard the runtime puts runyard's
# azureml.core compatibility package on PYTHONPATH, so this import needs no guard (and an
# environment with the real azureml-core uses that). Outside runyard, run it with that
# package on the path, e.g. `PYTHONPATH=build/sdk/python python3 train.py`: get_context()
# then returns an offline run that prints what it would have logged and stores nothing.
from azureml.core import Run


def make_spirals(n_per_class, noise, rng):
    """Two interleaved spirals: not linearly separable, so the hidden layer has work to do."""
    t = np.sqrt(rng.uniform(0.0, 1.0, n_per_class)) * 3.0 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3.0 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0.0, noise, (2 * n_per_class, 2))
    y = np.concatenate([np.zeros(n_per_class), np.ones(n_per_class)])
    order = rng.permutation(len(y))
    return x[order], y[order]


def forward(params, x):
    hidden = np.tanh(x @ params["w1"] + params["b1"])
    logits = hidden @ params["w2"] + params["b2"]
    return hidden, 1.0 / (1.0 + np.exp(-logits[:, 0]))


def train(args, run):
    rng = np.random.default_rng(args.seed)
    x, y = make_spirals(args.samples // 2, 0.04, rng)
    split = int(0.8 * len(y))
    x_train, y_train, x_val, y_val = x[:split], y[:split], x[split:], y[split:]
    params = {
        "w1": rng.normal(0.0, 1.0, (2, args.hidden)),
        "b1": np.zeros(args.hidden),
        "w2": rng.normal(0.0, 1.0 / np.sqrt(args.hidden), (args.hidden, 1)),
        "b2": np.zeros(1),
    }
    os.makedirs("outputs", exist_ok=True)
    os.makedirs("logs", exist_ok=True)
    with open("logs/metrics.csv", "w", newline="") as metrics_file:
        metrics = csv.writer(metrics_file)
        metrics.writerow(["epoch", "loss", "train_accuracy", "val_accuracy", "seconds"])
        for epoch in range(1, args.epochs + 1):
            started = time.time()
            order = rng.permutation(len(y_train))
            for start in range(0, len(order), args.batch_size):
                batch = order[start:start + args.batch_size]
                xb, yb = x_train[batch], y_train[batch]
                hidden, prob = forward(params, xb)
                grad_logits = (prob - yb)[:, None] / len(batch)
                grad_hidden = (grad_logits @ params["w2"].T) * (1.0 - hidden ** 2)
                params["w2"] -= args.lr * hidden.T @ grad_logits
                params["b2"] -= args.lr * grad_logits.sum(axis=0)
                params["w1"] -= args.lr * xb.T @ grad_hidden
                params["b1"] -= args.lr * grad_hidden.sum(axis=0)
            _, prob = forward(params, x_train)
            loss = -np.mean(y_train * np.log(prob + 1e-9) + (1 - y_train) * np.log(1 - prob + 1e-9))
            train_acc = np.mean((prob > 0.5) == y_train)
            val_acc = np.mean((forward(params, x_val)[1] > 0.5) == y_val)
            seconds = time.time() - started
            metrics.writerow([epoch, f"{loss:.5f}", f"{train_acc:.4f}", f"{val_acc:.4f}", f"{seconds:.3f}"])
            metrics_file.flush()
            run.log("loss", float(loss))
            run.log("train_accuracy", float(train_acc))
            run.log("val_accuracy", float(val_acc))
            print(f"epoch {epoch:3d}/{args.epochs}  loss {loss:.4f}  "
                  f"train_acc {train_acc:.3f}  val_acc {val_acc:.3f}")
    np.savez("outputs/model.npz", **params)
    print(f"saved model to outputs/model.npz (validation accuracy {val_acc:.3f})")
    return val_acc


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SEED", "0")))
    args = parser.parse_args()
    print(f"runyard run {os.environ.get('RUNYARD_RUN_ID', '(direct)')}: "
          f"training a {args.hidden}-unit network for {args.epochs} epochs")
    run = Run.get_context()
    run.log("learning_rate", args.lr)
    run.log("hidden_units", args.hidden)
    train(args, run)


if __name__ == "__main__":
    main()
