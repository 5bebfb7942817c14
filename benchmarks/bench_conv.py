"""How much faster are normlab's C convolution kernels than PyTorch's, on LeNet-5's layers?

Compares, side by side in one run (one torch thread by default):

1. each of LeNet-5's convolutions, ``conv1`` (B x 1 x 32 x 32 -> 6 channels) and ``conv2``
   (B x 6 x 14 x 14 -> 16 channels), at B = 64 (a training batch) and 256 (an evaluation
   batch): forward without autograd, and forward + backward (weight and bias gradients, plus
   the input gradient for ``conv2``, as in training), ``nn.Conv2d`` against ``FastConv2d``;
2. the whole ``LeNet5`` (plain, and with batch norm in train and in eval mode: the post's
   epochs 2-10 train in eval mode): a training step (forward, cross-entropy, backward, fused
   Adam; batch 64) and an eval forward (batch 256), the model accelerated by
   ``normlab.fast.accelerate`` with ``conv1``/``conv2`` as ``nn.Conv2d`` against the same with
   ``FastConv2d``, same weights.

Timing and tables as in ``bench_pool.py`` (interleaved rounds, process CPU time with one
thread, speed-up from the minima; "max|diff|" is the largest absolute difference from
PyTorch's output).

Usage::

    python benchmarks/bench_conv.py                # full run
    python benchmarks/bench_conv.py --quick        # a smoke test
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time

import torch
import torch.nn as nn

import normlab.fast.kernels as kernels
from normlab.fast import FastConv2d, accelerate, tune_malloc
from normlab.models import create_model

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_pool  # noqa: E402
from bench_pool import eval_step, print_table, time_side_by_side, train_step  # noqa: E402


def bench_layers(rounds: int, inner: int) -> list[dict]:
    rows = []
    for label, ci, side, co in (("conv1", 1, 32, 6), ("conv2", 6, 14, 16)):
        torch.manual_seed(0)
        fast = FastConv2d(ci, co, 5)
        plain = nn.Conv2d(ci, co, 5)
        plain.load_state_dict(fast.state_dict())
        cands = {"PyTorch nn.Conv2d": plain, "normlab FastConv2d": fast}
        for batch in (64, 256):
            x = torch.randn(batch, ci, side, side)
            # conv2's input comes from conv1 and needs a gradient; the images never do.
            xg = x.clone().requires_grad_(ci > 1)
            with torch.no_grad():
                ref = plain(x)
                diffs = {name: (m(x) - ref).abs().max().item() for name, m in cands.items()}
            grad_out = torch.randn_like(ref)

            def forward(module):
                def fn():
                    with torch.no_grad():
                        module(x)
                return fn

            def forward_backward(module):
                def fn():
                    module.zero_grad(set_to_none=True)
                    xg.grad = None
                    module(xg).backward(grad_out)
                return fn

            shape = f"{batch}x{ci}x{side}x{side}"
            times = time_side_by_side({n: forward(m) for n, m in cands.items()}, rounds, inner)
            rows += print_table(f"{label} forward, input {shape}", times, diffs)
            times = time_side_by_side({n: forward_backward(m) for n, m in cands.items()}, rounds, inner)
            rows += print_table(f"{label} forward+backward, input {shape}", times)
    return rows


def with_pytorch_convolutions(model: nn.Module) -> nn.Module:
    """A copy of the accelerated ``model`` whose ``FastConv2d`` layers are plain ``nn.Conv2d`` again, same weights."""
    model = copy.deepcopy(model)
    for name in ("conv1", "conv2"):
        getattr(model, name).__class__ = nn.Conv2d
    return model


def bench_models(rounds: int, inner: int) -> list[dict]:
    rows = []
    torch.manual_seed(1)
    x_train, y_train = torch.rand(64, 1, 32, 32), torch.randint(0, 10, (64,))
    x_eval = torch.rand(256, 1, 32, 32)
    for spec, mode in (("lenet5", "train"), ("lenet5-bn", "train"), ("lenet5-bn", "eval")):
        def candidates():
            torch.manual_seed(0)
            fast = create_model(spec, head="softmax")
            accelerate(fast)
            return {"PyTorch nn.Conv2d": with_pytorch_convolutions(fast), "normlab FastConv2d": fast}

        steps = {n: train_step(m.train(mode == "train"), x_train, y_train, lr=1e-3, fused=True)
                 for n, m in candidates().items()}
        times = time_side_by_side(steps, rounds, inner)
        rows += print_table(f"{spec} training step ({mode} mode), batch 64", times)
        if mode == "train" and spec == "lenet5-bn":
            continue  # evaluation is always in eval mode: timed once, below

        # Fresh models: the training steps above moved each candidate's weights its own way.
        cands = {name: model.eval() for name, model in candidates().items()}
        with torch.no_grad():
            ref = cands["PyTorch nn.Conv2d"](x_eval)
            diffs = {name: (m(x_eval) - ref).abs().max().item() for name, m in cands.items()}
        times = time_side_by_side({n: eval_step(m, x_eval) for n, m in cands.items()}, rounds, inner)
        rows += print_table(f"{spec} eval forward, batch 256", times, diffs)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds per table (default: 9)")
    parser.add_argument("--inner", type=int, default=20, help="calls timed per round (default: 20)")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 3 calls, a smoke test (default: off)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.inner = 3, 3
    if kernels.load() is None:
        print(f"nothing to compare: {kernels.status()}", file=sys.stderr)
        return 1
    tune_malloc()  # as in normlab's own processes
    torch.set_num_threads(args.threads)
    # CPU time does not advance while other processes hold the core; with threads it adds them up.
    bench_pool.CLOCK = time.process_time if args.threads == 1 else time.perf_counter
    clock = "cpu" if args.threads == 1 else "wall"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {kernels.status()}")
    print(f"{args.rounds} interleaved rounds x {args.inner} calls; ms per call ({clock} clock); "
          "speed-up from the minima")
    bench_layers(args.rounds, args.inner)
    bench_models(args.rounds, args.inner)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
