"""The trainer's overhead: time outside the model's forward, backward and optimizer step.

The same model, data and batch order are trained twice, interleaved over several rounds:
- *bare*: a loop over batches transformed in advance, doing only zero_grad, forward, loss,
  backward and step;
- *trainer*: :func:`normlab.train.loop.train_one_epoch` with its loader (gather + transform per
  batch), divergence check, loss and accuracy bookkeeping and, optionally, the tqdm bar.

Overhead = (trainer - bare) / trainer. Run with one torch thread, as the compare workers do:

    NORMLAB_DATA=../shared/datasets/mnist python benchmarks/bench_overhead.py
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time

import torch
import torch.nn as nn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=19200, help="training images per timed epoch (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the minimum counts (default: %(default)s)")
    parser.add_argument("--model", default="lenet5-bn", help="model (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from normlab.data import BatchLoader, load_splits
    from normlab.fast import accelerate
    from normlab.train import TrainConfig, build_model
    from normlab.train.loop import build_optimizer, train_one_epoch

    splits = load_splits("mnist", subset=args.images, data_dir=None)  # None: $NORMLAB_DATA, resolved by normlab
    config = TrainConfig(model=args.model, device="cpu")
    model0 = build_model(config)
    accelerate(model0, enabled=config.accelerate)  # as train() does
    loss_fn = nn.CrossEntropyLoss()
    # The bare loop gets the batches ready-made, in the same shuffled order as the trainer's.
    loader = BatchLoader(splits.train, 64, shuffle=True, generator=torch.Generator().manual_seed(0))
    batches = [(x.clone(), y.clone()) for x, y in loader]

    def bare() -> float:
        model = copy.deepcopy(model0).train()
        opt = build_optimizer(config, model.parameters())
        start = time.perf_counter()
        for x, y in batches:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        return time.perf_counter() - start

    def trainer(progress: bool) -> float:
        model = copy.deepcopy(model0).train()
        opt = build_optimizer(config, model.parameters())
        loader = BatchLoader(splits.train, 64, shuffle=True, generator=torch.Generator().manual_seed(0))
        start = time.perf_counter()
        train_one_epoch(model, opt, loss_fn, loader, epoch=1, progress=progress)
        return time.perf_counter() - start

    times = {"bare": [], "trainer": [], "trainer + tqdm bar": []}
    bare()  # warm-up, excluded
    stderr = sys.stderr
    for _ in range(args.rounds):
        times["bare"].append(bare())
        times["trainer"].append(trainer(False))
        sys.stderr = open(os.devnull, "w")  # the bar renders, to nowhere
        try:
            times["trainer + tqdm bar"].append(trainer(True))
        finally:
            sys.stderr.close()
            sys.stderr = stderr
    steps = len(batches)
    base = min(times["bare"])
    print(f"{steps} steps of batch 64, {args.model}, {args.threads} thread(s); minimum of {args.rounds} rounds")
    for name, values in times.items():
        t = min(values)
        overhead = (t - base) / t * 100
        print(f"{name:20s} {t:7.2f} s  {t / steps * 1e3:6.2f} ms/step  overhead {overhead:5.1f}%")


if __name__ == "__main__":
    main()
