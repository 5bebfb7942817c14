"""How fast are 2x2 pooling kernels and the LeNet-5 training step on one CPU thread?

Compares, side by side in one run, with ``torch.set_num_threads(1)`` by default:

1. average-pool kernels on LeNet-5's two pool inputs, (B, 6, 28, 28) and (B, 16, 10, 10), at
   B = 64 and 256, forward only (no autograd) and forward + backward;
2. max-pool kernels, the same way;
3. the whole LeNet-5, plain and with batch norm: a training step (forward, cross-entropy,
   backward, Adam step; batch 64) and an eval forward (batch 256), for the blog post's classes
   verbatim (``nn.AvgPool2d``, ``torch.tanh``) with each pool candidate swapped in, and for
   ``normlab.models.LeNet5`` as training runs it (``nn.Tanh`` modules; ``normlab.fast.accelerate``:
   ``AvgPool2x2``, the C convolution kernels) with a few variations: in-place tanh,
   ``nn.AvgPool2d`` put back, fused Adam.

Timing: every candidate of a table runs once per round, in turn, so drifts in machine load hit
all candidates alike; a round times ``--inner`` calls. Each row shows the median and the minimum
over rounds, in milliseconds per call. "speed-up" is the baseline's (first row's) minimum divided
by the row's: on a shared machine the minimum is the figure least disturbed by other processes,
and a kernel's own cost is what the comparison is about. With one thread the clock is the
process's CPU time (``time.process_time``), which does not advance while other processes hold
the core; with several threads it is wall time, since CPU time would add the threads up
(``--clock`` overrides). "max|diff|" is the largest absolute difference from the baseline's
output (and input gradient, for the kernels).

Usage::

    python benchmarks/bench_pool.py                 # full run
    python benchmarks/bench_pool.py --quick         # fewer rounds, a smoke test
    python benchmarks/bench_pool.py --threads 2 --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from normlab.fast import AvgPool2x2, MaxPool2x2, accelerate
from normlab.models import create_model

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from post_baseline import LeNet5, LeNet5_BatchNorm  # noqa: E402


# --------------------------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------------------------


class Fn(nn.Module):
    """Wrap a pooling function as a parameter-free module, so it can replace ``pool1``/``pool2``."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], name: str):
        super().__init__()
        self.fn = fn
        self.name = name

    def forward(self, x):
        return self.fn(x)

    def extra_repr(self):
        return self.name


def strided_sum(x):
    return (x[:, :, 0::2, 0::2] + x[:, :, 1::2, 0::2] + x[:, :, 0::2, 1::2] + x[:, :, 1::2, 1::2]) * 0.25


def two_step_sum(x):
    rows = x[:, :, 0::2, :] + x[:, :, 1::2, :]
    return (rows[:, :, :, 0::2] + rows[:, :, :, 1::2]) * 0.25


def reshape_mean(x):
    n, c, h, w = x.shape
    return x.view(n, c, h // 2, 2, w // 2, 2).mean((3, 5))


def depthwise_conv(x):
    c = x.shape[1]
    weight = torch.full((c, 1, 2, 2), 0.25, dtype=x.dtype)
    return F.conv2d(x, weight, stride=2, groups=c)


def strided_max(x):
    rows = torch.maximum(x[:, :, 0::2, :], x[:, :, 1::2, :])
    return torch.maximum(rows[:, :, :, 0::2], rows[:, :, :, 1::2])


def avg_candidates() -> dict[str, nn.Module]:
    """Average-pool candidates; the first is the baseline."""
    return {
        "nn.AvgPool2d(2)": nn.AvgPool2d(2),
        "F.avg_pool2d": Fn(lambda x: F.avg_pool2d(x, 2), "F.avg_pool2d"),
        "strided sum (4 slices)": Fn(strided_sum, "strided"),
        "two-step strided sum": Fn(two_step_sum, "two-step"),
        "reshape-mean": Fn(reshape_mean, "reshape-mean"),
        "depthwise conv 2x2/2": Fn(depthwise_conv, "depthwise"),
        "normlab AvgPool2x2": AvgPool2x2(),
    }


def max_candidates() -> dict[str, nn.Module]:
    """Max-pool candidates; the first is the baseline."""
    return {
        "nn.MaxPool2d(2)": nn.MaxPool2d(2),
        "strided max (autograd)": Fn(strided_max, "strided-max"),
        "normlab MaxPool2x2": MaxPool2x2(),
    }


def PostLeNet5(batchnorm: bool = False) -> nn.Module:
    """The blog post's network (from post_baseline.py, beside this file); the benchmark swaps its pools."""
    return LeNet5_BatchNorm() if batchnorm else LeNet5()


class InplaceTanh(nn.Module):
    """tanh overwriting its input (legal here: neither conv, linear nor BN backward needs it)."""

    def forward(self, x):
        return x.tanh_()


def model_candidates(batchnorm: bool, optimizer_variants: bool) -> dict[str, tuple[nn.Module, dict]]:
    """(model, Adam kwargs) per candidate; every model starts from the same weights."""
    out: dict[str, tuple[nn.Module, dict]] = {}
    for name, pool in avg_candidates().items():
        torch.manual_seed(0)
        post = PostLeNet5(batchnorm)
        post.pool1, post.pool2 = pool, pool
        out[f"post + {name}"] = (post, {})
    spec = "lenet5-bn" if batchnorm else "lenet5"

    def ours(**kw):
        torch.manual_seed(0)
        model = create_model(spec, head="softmax", **kw)
        accelerate(model)
        return model

    out["normlab LeNet5"] = (ours(), {})
    m = ours()
    for i in (1, 2, 3, 4):
        setattr(m, f"act{i}", InplaceTanh())
    out["normlab LeNet5, in-place tanh"] = (m, {})
    m = ours()
    m.pool1, m.pool2 = nn.AvgPool2d(2), nn.AvgPool2d(2)
    out["normlab LeNet5 + nn.AvgPool2d"] = (m, {})
    if optimizer_variants:
        out["normlab LeNet5, Adam(fused=True)"] = (ours(), {"fused": True})
        out["normlab LeNet5, Adam(foreach=False)"] = (ours(), {"foreach": False})
    return out


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


CLOCK: Callable[[], float] = time.perf_counter


def time_side_by_side(
    fns: dict[str, Callable[[], object]], rounds: int, inner: int
) -> dict[str, tuple[float, float]]:
    """(median, minimum) milliseconds per call of each function, measured in interleaved rounds."""
    for fn in fns.values():
        for _ in range(3):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = CLOCK()
            for _ in range(inner):
                fn()
            samples[name].append((CLOCK() - start) / inner * 1e3)
    return {name: (statistics.median(values), min(values)) for name, values in samples.items()}


def print_table(
    title: str, times: dict[str, tuple[float, float]], diffs: dict[str, float] | None = None
) -> list[dict]:
    names = list(times)
    base = times[names[0]][1]
    width = max(len(n) for n in names)
    print(f"\n{title}")
    header = f"  {'candidate':<{width}}  {'median':>8}  {'min':>8}  {'speed-up':>8}"
    print(header + ("  max|diff|" if diffs else ""))
    rows = []
    for name in names:
        median, best = times[name]
        line = f"  {name:<{width}}  {median:8.3f}  {best:8.3f}  {base / best:7.2f}x"
        if diffs:
            line += f"  {diffs[name]:.1e}"
        print(line)
        row = {"table": title, "candidate": name, "median_ms": median, "min_ms": best,
               "speedup": base / best}
        if diffs:
            row["max_abs_diff"] = diffs[name]
        rows.append(row)
    return rows


def bench_pool_kernels(
    candidates: Callable[[], dict[str, nn.Module]], label: str, rounds: int, inner: int
) -> list[dict]:
    rows = []
    for batch in (64, 256):
        for shape in ((batch, 6, 28, 28), (batch, 16, 10, 10)):
            torch.manual_seed(0)
            x = torch.randn(shape)
            grad_out = torch.randn(shape[0], shape[1], shape[2] // 2, shape[3] // 2)
            cands = candidates()
            base_name = next(iter(cands))

            # Correctness first: forward values and input gradients against the baseline.
            def run(module):
                xg = x.clone().requires_grad_(True)
                y = module(xg)
                y.backward(grad_out)
                return y.detach(), xg.grad

            ref_y, ref_g = run(cands[base_name])
            diffs = {}
            for name, module in cands.items():
                y, g = run(module)
                diffs[name] = max((y - ref_y).abs().max().item(), (g - ref_g).abs().max().item())

            def forward(module):
                def fn():
                    with torch.no_grad():
                        module(x)
                return fn

            xg = x.clone().requires_grad_(True)

            def forward_backward(module):
                def fn():
                    xg.grad = None
                    module(xg).backward(grad_out)
                return fn

            shape_s = "x".join(map(str, shape))
            times = time_side_by_side({n: forward(m) for n, m in cands.items()}, rounds, inner)
            rows += print_table(f"{label} forward, input {shape_s}", times, diffs)
            times = time_side_by_side({n: forward_backward(m) for n, m in cands.items()}, rounds, inner)
            rows += print_table(f"{label} forward+backward, input {shape_s}", times, diffs)
    return rows


def eval_step(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """A call of ``model`` on ``x`` without autograd, as a timed function."""
    def fn():
        with torch.no_grad():
            model(x)
    return fn


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, **adam_kw) -> Callable[[], None]:
    """One training step of ``model`` on ``(x, y)`` (forward, cross-entropy, backward, Adam), as a
    timed function; the model stays in the mode it is in."""
    opt = torch.optim.Adam(model.parameters(), **adam_kw)
    # The post's loss: cross-entropy on its (softmax) output.
    loss_fn = nn.CrossEntropyLoss()

    def fn():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
    return fn


def bench_models(rounds: int, inner: int) -> list[dict]:
    rows = []
    torch.manual_seed(1)
    x_train = torch.randn(64, 1, 32, 32)
    y_train = torch.randint(0, 10, (64,))
    x_eval = torch.randn(256, 1, 32, 32)
    for batchnorm in (False, True):
        arch = "LeNet-5 + BN" if batchnorm else "LeNet-5"

        cands = model_candidates(batchnorm, optimizer_variants=True)
        base_model = next(iter(cands.values()))[0].eval()
        with torch.no_grad():
            ref = base_model(x_eval)
        diffs = {}
        for name, (model, _) in cands.items():
            model.eval()
            with torch.no_grad():
                diffs[name] = (model(x_eval) - ref).abs().max().item()

        eval_cands = {n: eval_step(m, x_eval) for n, (m, opt_kw) in cands.items() if not opt_kw}
        times = time_side_by_side(eval_cands, rounds, inner)
        rows += print_table(f"{arch} eval forward, batch 256", times, {n: diffs[n] for n in eval_cands})

        times = time_side_by_side({n: train_step(m.train(), x_train, y_train, **kw) for n, (m, kw) in cands.items()},
                                  rounds, inner)
        rows += print_table(f"{arch} training step (fwd+bwd+Adam), batch 64", times)
    return rows


def atomic_write_json(path: str, payload) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".bench_pool.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=2)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds per table (default: 9)")
    parser.add_argument("--inner", type=int, default=10, help="calls timed per round (default: 10)")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 3 calls, a smoke test (default: off)")
    parser.add_argument("--clock", choices=["auto", "cpu", "wall"], default="auto",
                        help="cpu: process CPU time; wall: elapsed time; auto: cpu with one thread, "
                             "else wall (default: auto)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON (default: none)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.inner = 3, 3

    torch.set_num_threads(args.threads)
    global CLOCK
    clock = args.clock if args.clock != "auto" else ("cpu" if args.threads == 1 else "wall")
    CLOCK = time.process_time if clock == "cpu" else time.perf_counter
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {cpu}")
    print(f"{args.rounds} interleaved rounds x {args.inner} calls; ms per call ({clock} clock); "
          "speed-up from the minima")

    rows = bench_pool_kernels(avg_candidates, "avg pool", args.rounds, args.inner)
    rows += bench_pool_kernels(max_candidates, "max pool", args.rounds, args.inner)
    rows += bench_models(args.rounds, args.inner)
    if args.json:
        meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": cpu,
                "clock": clock, "rounds": args.rounds, "inner": args.inner}
        atomic_write_json(args.json, {**meta, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
