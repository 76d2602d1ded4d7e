"""PyTorch example: a small convolutional network classifies synthetic 16x16 "digits".

The data is made here (no download): each of 10 classes is a fixed random stroke pattern,
and every sample is its class pattern shifted by up to 2 pixels, scaled and noised, so the
network has to learn shift-tolerant features. Written against Azure ML's v1 Run API, as a
script moved from Azure ML would be:
  - run.log per epoch (loss, accuracies, seconds): `runyard metrics RUN`;
  - run.log_image of the loss curve drawn with matplotlib: logs/images/ in the run's files;
  - the trained weights saved outside outputs/ and uploaded with run.upload_file.
Under runyard the runtime puts the azureml.core compatibility package on PYTHONPATH; outside
it, `PYTHONPATH=build/sdk/python python3 train.py` runs offline (it prints what it logs).
"""
import argparse
import os
import time

import matplotlib
matplotlib.use("Agg")  # no display on a node: render to files only
import matplotlib.pyplot as plt
import torch
from torch import nn
from azureml.core import Run

SIZE = 16
CLASSES = 10


def class_patterns(generator):
    """One 16x16 pattern per class: a few random thick strokes (random walks) on black."""
    patterns = torch.zeros(CLASSES, SIZE, SIZE)
    for c in range(CLASSES):
        for _ in range(3):
            y, x = torch.randint(4, SIZE - 4, (2,), generator=generator).tolist()
            for _ in range(8):
                patterns[c, y - 1:y + 1, x - 1:x + 1] = 1.0
                dy, dx = (torch.randint(-1, 2, (2,), generator=generator)).tolist()
                y, x = min(max(y + dy, 2), SIZE - 3), min(max(x + dx, 2), SIZE - 3)
    return patterns


def make_dataset(patterns, count, generator):
    """`count` samples: a random class pattern, shifted, scaled in brightness, plus noise."""
    labels = torch.randint(0, CLASSES, (count,), generator=generator)
    images = patterns[labels].clone()
    shifts = torch.randint(-2, 3, (count, 2), generator=generator)
    for i in range(count):
        images[i] = torch.roll(images[i], shifts=tuple(shifts[i].tolist()), dims=(0, 1))
    images *= 0.6 + 0.4 * torch.rand(count, 1, 1, generator=generator)
    images += 0.35 * torch.randn(count, SIZE, SIZE, generator=generator)
    return images.unsqueeze(1), labels


class SmallConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 8 x 8 x 8
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 16 x 4 x 4
        )
        self.classify = nn.Linear(16 * 4 * 4, CLASSES)

    def forward(self, x):
        return self.classify(self.features(x).flatten(1))


def accuracy(model, images, labels):
    with torch.no_grad():
        return (model(images).argmax(dim=1) == labels).float().mean().item()


def loss_curve(losses, val_accuracies):
    """The per-epoch loss and validation accuracy as one matplotlib figure (on plt)."""
    epochs = range(1, len(losses) + 1)
    plt.figure(figsize=(5, 3.2))
    plt.plot(epochs, losses, marker="o", label="training loss")
    plt.plot(epochs, val_accuracies, marker="s", label="validation accuracy")
    plt.xlabel("epoch")
    plt.title("small conv net on synthetic digits")
    plt.legend()
    plt.tight_layout()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SEED", "0")))
    args = parser.parse_args()

    run = Run.get_context()
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    patterns = class_patterns(generator)
    x_train, y_train = make_dataset(patterns, args.samples, generator)
    x_val, y_val = make_dataset(patterns, args.samples // 4, generator)
    model = SmallConvNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    run.log("learning_rate", args.lr)
    run.log("parameters", sum(p.numel() for p in model.parameters()))
    print(f"runyard run {os.environ.get('RUNYARD_RUN_ID', '(direct)')}: torch {torch.__version__}, "
          f"{args.samples} samples, {args.epochs} epochs", flush=True)

    losses, val_accuracies = [], []
    for epoch in range(1, args.epochs + 1):
        started = time.time()
        model.train()
        order = torch.randperm(len(y_train), generator=generator)
        total = 0.0
        for start in range(0, len(order), args.batch_size):
            batch = order[start:start + args.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        model.eval()
        losses.append(total / len(y_train))
        val_accuracies.append(accuracy(model, x_val, y_val))
        train_accuracy = accuracy(model, x_train, y_train)
        run.log("loss", losses[-1])
        run.log("train_accuracy", train_accuracy)
        run.log("val_accuracy", val_accuracies[-1])
        run.log("epoch_seconds", time.time() - started)
        print(f"epoch {epoch}/{args.epochs}  loss {losses[-1]:.4f}  train_acc {train_accuracy:.3f}  "
              f"val_acc {val_accuracies[-1]:.3f}", flush=True)

    loss_curve(losses, val_accuracies)
    run.log_image("loss_curve", plot=plt)
    plt.close()

    # Saved outside outputs/ on purpose: upload_file is how an Azure ML script puts a file
    # it wrote elsewhere into the run's history under a name of its choice.
    os.makedirs("checkpoints", exist_ok=True)
    torch.save(model.state_dict(), "checkpoints/model.pt")
    run.upload_file("outputs/model.pt", "checkpoints/model.pt")
    run.tag("framework", "pytorch")
    print(f"uploaded outputs/model.pt (validation accuracy {val_accuracies[-1]:.3f})", flush=True)


if __name__ == "__main__":
    main()
