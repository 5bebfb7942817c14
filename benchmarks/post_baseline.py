"""A faithful re-implementation of the post's own pipeline: the speed baseline.

What makes it the post's: a per-sample ``Dataset`` that builds a PIL image and applies
``ToTensor`` and ``Resize((32, 32))`` semantics to each sample, ``DataLoader(batch_size=64)``
without shuffling, a ``.item()`` per batch, Python's ``sum`` over the prediction tensor, and a
full pass over the training and validation sets for accuracy after each epoch. The models and
``ConvolutionalNeuralNet`` are the post's code, with torchvision's two transforms written out
(torchvision has no build for our torch; the semantics are the same).

Run alone: ``python benchmarks/post_baseline.py --epochs 10`` (``NORMLAB_DATA`` must point at
the MNIST files). ``bench_compare.py`` runs it side by side with ``normlab compare``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from normlab.data import read_idx

device = torch.device("cpu")


def to_tensor(pic: Image.Image) -> torch.Tensor:
    """torchvision.transforms.ToTensor for an 8-bit grayscale PIL image."""
    img = torch.from_numpy(np.array(pic, np.uint8, copy=True))
    return img.view(pic.size[1], pic.size[0], 1).permute((2, 0, 1)).contiguous().float().div(255)


def resize32(x: torch.Tensor) -> torch.Tensor:
    """torchvision.transforms.Resize((32, 32)) on a tensor: bilinear with antialias."""
    return F.interpolate(x[None], size=(32, 32), mode="bilinear", align_corners=False, antialias=True)[0]


class PostMNIST(Dataset):
    """torchvision's MNIST __getitem__: uint8 tensor -> PIL image -> transforms."""

    def __init__(self, root: str, train: bool):
        prefix = "train" if train else "t10k"
        self.data = torch.from_numpy(read_idx(os.path.join(root, f"{prefix}-images-idx3-ubyte.gz")).copy())
        self.targets = torch.from_numpy(read_idx(os.path.join(root, f"{prefix}-labels-idx1-ubyte.gz")).astype(np.int64))

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        img, target = self.data[index], int(self.targets[index])
        img = Image.fromarray(img.numpy(), mode="L")
        return resize32(to_tensor(img)), target


# The post's two networks, verbatim: normlab.post keeps the one copy that tests and report share.
from normlab.post import LeNet5, LeNet5_BatchNorm  # noqa: E402


class ConvolutionalNeuralNet:
    def __init__(self, network):
        self.network = network.to(device)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=1e-3)

    def train(self, loss_function, epochs, batch_size, training_set, validation_set, quiet=True):
        log_dict = {"training_loss_per_batch": [], "validation_loss_per_batch": [],
                    "training_accuracy_per_epoch": [], "validation_accuracy_per_epoch": []}

        def init_weights(module):
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                torch.nn.init.xavier_uniform_(module.weight)
                module.bias.data.fill_(0.01)

        def accuracy(network, dataloader):
            network.eval()
            total_correct = 0
            total_instances = 0
            for images, labels in tqdm(dataloader, disable=quiet):
                images, labels = images.to(device), labels.to(device)
                predictions = torch.argmax(network(images), dim=1)
                correct_predictions = sum(predictions == labels).item()
                total_correct += correct_predictions
                total_instances += len(images)
            return round(total_correct / total_instances, 3)

        self.network.apply(init_weights)
        train_loader = DataLoader(training_set, batch_size)
        val_loader = DataLoader(validation_set, batch_size)
        self.network.train()
        for epoch in range(epochs):
            train_losses = []
            for images, labels in tqdm(train_loader, disable=quiet):
                images, labels = images.to(device), labels.to(device)
                self.optimizer.zero_grad()
                predictions = self.network(images)
                loss = loss_function(predictions, labels)
                log_dict["training_loss_per_batch"].append(loss.item())
                train_losses.append(loss.item())
                loss.backward()
                self.optimizer.step()
            with torch.no_grad():
                train_accuracy = accuracy(self.network, train_loader)
                log_dict["training_accuracy_per_epoch"].append(train_accuracy)
            val_losses = []
            self.network.eval()
            with torch.no_grad():
                for images, labels in tqdm(val_loader, disable=quiet):
                    images, labels = images.to(device), labels.to(device)
                    predictions = self.network(images)
                    val_loss = loss_function(predictions, labels)
                    log_dict["validation_loss_per_batch"].append(val_loss.item())
                    val_losses.append(val_loss.item())
                val_accuracy = accuracy(self.network, val_loader)
                log_dict["validation_accuracy_per_epoch"].append(val_accuracy)
            train_losses = np.array(train_losses).mean()
            val_losses = np.array(val_losses).mean()
            print(f"training_loss: {round(train_losses, 4)}  training_accuracy: {train_accuracy}  "
                  f"validation_loss: {round(val_losses, 4)} validation_accuracy: {val_accuracy}",
                  file=sys.stderr)
        return log_dict


def run(data_dir: str, epochs: int, seed: int = 0) -> dict:
    """Train both of the post's models as the post does; return timings and final accuracies."""
    training_set = PostMNIST(data_dir, train=True)
    validation_set = PostMNIST(data_dir, train=False)
    out = {}
    for name, cls in (("lenet5", LeNet5), ("lenet5-bn", LeNet5_BatchNorm)):
        torch.manual_seed(seed)
        start = time.perf_counter()
        log = ConvolutionalNeuralNet(cls()).train(nn.CrossEntropyLoss(), epochs, 64, training_set, validation_set)
        out[name] = {"seconds": time.perf_counter() - start,
                     "val_accuracy": log["validation_accuracy_per_epoch"]}
    out["total_seconds"] = sum(v["seconds"] for v in out.values())
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="epochs per model (default: 10)")
    parser.add_argument("--data-dir", default=None,
                        help="MNIST folder (default: $NORMLAB_DATA/mnist, else $NORMLAB_DATA)")
    args = parser.parse_args()
    if args.data_dir is None and os.environ.get("NORMLAB_DATA"):
        env = os.environ["NORMLAB_DATA"]
        args.data_dir = os.path.join(env, "mnist") if os.path.isdir(os.path.join(env, "mnist")) else env
    print(json.dumps(run(args.data_dir, args.epochs), indent=2))
