"""The training loop: one readable path from config to :class:`RunRecord`.

Hot-path choices, and why:
- Batches come from :class:`normlab.data.BatchLoader` with ``cache=True``: the images are
  transformed once per run (per dataset), kept on the device, and each batch is one index
  operation: no per-sample Python, no host-to-device copy and no resize per step.
- Losses and correct counts stay on the device, and the host reads them once per epoch (the
  post's per-batch ``.item()`` forces a GPU sync every step). On the CPU a read costs nothing,
  so the NaN/inf check runs every batch there and stops at the first bad one.
- Divergence is more than NaN: an epoch whose mean training loss is far worse than guessing
  (:data:`DIVERGENCE_FACTOR`) also stops the run. It is checked on the losses the epoch's one
  host read already brings back, so it costs nothing.
"""

from __future__ import annotations

import copy
import math
import random
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from normlab.errors import CheckpointError, ConfigError, DivergenceError
from normlab.train.callbacks import Callback
from normlab.train.checkpoint import check_compatible, load_checkpoint, save_checkpoint
from normlab.fast.apply import accelerate
from normlab.fast.optim import create_optimizer
from normlab.train.config import Protocol, TrainConfig, get_protocol, input_size_for
from normlab.train.resolve import resolve
from normlab.train.record import RunRecord

#: An epoch whose mean training loss exceeds this multiple of max(ln C, the run's initial loss)
#: has diverged. A uniform guess scores ln C; a mean of 3 ln C gives the true class, in geometric
#: mean, probability 1/C**3, C**2 times less than guessing: a confidently wrong model that no
#: optimiser still learning produces over a whole epoch. The initial loss stands in for ln C when a
#: network starts above it. Under the blog protocol the loss gets probabilities, which bounds it
#: by ln(e + C - 1), so there only NaN can end a run.
DIVERGENCE_FACTOR = 3.0


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str = "auto") -> torch.device:
    """Map ``auto`` to cuda, then mps, then cpu; check that an explicit device exists."""
    mps_ok = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_ok else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} requested but CUDA is not available; use --device cpu or auto")
    if device.type == "mps" and not mps_ok:
        raise ConfigError(f"device={name!r} requested but MPS is not available; use --device cpu or auto")
    return device


def build_optimizer(config: TrainConfig, params) -> torch.optim.Optimizer:
    """The optimizer the config names (:func:`normlab.fast.optim.create_optimizer`): Adam fused
    where the device has the kernel, unless ``config.accelerate`` is false."""
    return create_optimizer(config.optimizer, params, lr=config.lr, momentum=config.momentum,
                            weight_decay=config.weight_decay, fused_adam=config.accelerate)


def build_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer,
                    steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule ``config.lr_schedule`` names, over the run's ``epochs x steps_per_epoch``
    optimizer steps and stepped after each; None for ``constant``, which leaves the rate at ``config.lr``.

    ``cosine`` is torch's ``CosineAnnealingLR`` from ``config.lr`` to 0; ``onecycle`` is torch's
    ``OneCycleLR`` with ``config.lr`` as its peak and torch's defaults otherwise (30% of the steps
    rising from lr/25, cosine annealing, down to lr/25/1e4 by the last step).
    """
    total = config.epochs * steps_per_epoch
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    if config.lr_schedule == "onecycle":
        # The rate only: cycling momentum would switch momentum on for SGD at momentum 0 and move Adam's beta1,
        # which the config would then not describe.
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total,
                                                   cycle_momentum=False)
    return None


@dataclass
class EvalResult:
    """One pass over a dataset in eval mode."""

    loss: float  # per-sample mean
    accuracy: float
    batch_losses: list[float]  # mean loss of each batch, as the post logs them


def per_sample_loss(loss_fn: Callable) -> Callable | None:
    """The per-sample form of ``loss_fn``, or None where it has none that this code knows.

    Returns ``f(out, y) -> (losses, counted)``: each sample's loss, and a 0/1 float per sample
    saying whether the mean counts it. ``loss_fn(out, y)`` is then ``losses.sum() /
    counted.sum()``. Known: ``nn.CrossEntropyLoss`` and ``nn.NLLLoss`` with ``reduction="mean"``
    and no class weights (a weighted mean is not a mean of samples); targets equal to
    ``ignore_index`` are not counted, as those losses do.
    """
    if type(loss_fn) not in (nn.CrossEntropyLoss, nn.NLLLoss) or loss_fn.reduction != "mean" \
            or loss_fn.weight is not None:
        return None
    unreduced = copy.copy(loss_fn)
    unreduced.reduction = "none"
    ignore = loss_fn.ignore_index

    def losses(out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return unreduced(out, y), (y != ignore).to(out.dtype)

    return losses


@torch.no_grad()
def evaluate(model: nn.Module, loader, loss_fn: Callable, *, restore_mode: bool = True,
             loss_batch_size: int | None = None) -> EvalResult:
    """Evaluate ``model`` over ``loader`` in eval mode and return loss, accuracy and batch losses.

    It switches to ``eval()`` itself and, unless ``restore_mode`` is False, back to the mode it
    found, so no caller can forget. ``restore_mode=False`` reproduces the post's accuracy
    function, which leaves the model in eval mode.

    ``loss_batch_size`` logs the batch losses that a loader with that batch size would give
    (the mean loss of each run of that many consecutive samples) while the forward passes use
    ``loader``'s batches, which may be larger and are faster per image. It needs a loss with a
    per-sample form (:func:`per_sample_loss`); ConfigError otherwise.
    """
    per_sample = None
    if loss_batch_size is not None:
        per_sample = per_sample_loss(loss_fn)
        if per_sample is None:
            raise ConfigError(
                f"loss_batch_size needs a loss with a per-sample form (CrossEntropyLoss or NLLLoss, "
                f"mean reduction, no class weights); got {loss_fn!r}: evaluate with a loader of that batch size")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    # Preallocated: one small tensor kept per batch fragments the heap, each pinning memory above
    # the temporaries. One loss per sample with per_sample (and whether it counts), else per batch.
    rows = _sample_count(loader) if per_sample is not None else len(loader)
    losses = torch.empty(rows, dtype=torch.float32, device=device)  # float64: not on MPS
    counted = torch.empty_like(losses) if per_sample is not None else None
    correct = torch.zeros((), dtype=torch.int64, device=device)
    sizes = []
    seen = 0
    for i, (x, y) in enumerate(loader):
        out = model(x)
        if per_sample is not None:
            losses[seen : seen + len(y)], counted[seen : seen + len(y)] = per_sample(out, y)
        else:
            losses[i] = loss_fn(out, y).detach()
        correct += (out.argmax(1) == y).sum()
        sizes.append(len(y))
        seen += len(y)
    if restore_mode:
        model.train(was_training)
    if not sizes:
        return EvalResult(float("nan"), float("nan"), [])
    if per_sample is not None:
        sums, counts = _group_sums(losses[:seen], loss_batch_size), _group_sums(counted[:seen], loss_batch_size)
        batch_losses = (sums / counts).cpu().double()  # the one host sync of the pass
        return EvalResult(float(sums.sum() / counts.sum()), int(correct) / seen, batch_losses.tolist())
    batch_losses = losses[: len(sizes)].cpu().double()  # the one host sync of the pass
    mean = float((batch_losses * torch.tensor(sizes, dtype=torch.float64)).sum() / seen)
    return EvalResult(mean, int(correct) / seen, batch_losses.tolist())


def _sample_count(loader) -> int:
    try:
        return len(loader.dataset)
    except (AttributeError, TypeError):
        raise ConfigError("loss_batch_size needs a loader with a sized .dataset, such as normlab's "
                          "BatchLoader") from None


def _group_sums(values: torch.Tensor, size: int) -> torch.Tensor:
    """Sums of consecutive groups of ``size`` values, the last group possibly shorter."""
    full = len(values) // size * size
    sums = values[:full].view(-1, size).sum(1)
    if full < len(values):
        sums = torch.cat([sums, values[full:].sum().view(1)])
    return sums


def tqdm_disable(progress: bool | None) -> bool | None:
    """tqdm's ``disable`` for a progress flag: None shows bars only on a terminal."""
    return None if progress is None else not progress


def divergence_limit(initial_loss: float, num_classes: int) -> float:
    """The mean epoch training loss above which a run has diverged (see :data:`DIVERGENCE_FACTOR`)."""
    return DIVERGENCE_FACTOR * max(math.log(num_classes), initial_loss)


def _check_epoch_loss(mean_loss: float, *, epoch: int, initial_loss: float, num_classes: int) -> None:
    """Raise :class:`DivergenceError` when the epoch's mean training loss is past the limit."""
    limit = divergence_limit(initial_loss, num_classes)
    if mean_loss > limit:
        raise DivergenceError(
            f"epoch {epoch}: mean training loss {mean_loss:.4g} exceeds {limit:.4g} = {DIVERGENCE_FACTOR:g} x "
            f"max(ln {num_classes} = {math.log(num_classes):.3f}, initial loss {initial_loss:.4g}), far worse than "
            "a uniform guess; the run diverged (try a smaller learning rate)", epoch=epoch, batch=None)


def _diverged(loss: float, epoch: int, batch: int) -> DivergenceError:
    return DivergenceError(f"loss became {loss} at epoch {epoch}, batch {batch}; the run diverged "
                           "(try a smaller learning rate)", epoch=epoch, batch=batch)


def train_one_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable, loader, *, epoch: int,
                    step: int = 0, callbacks: Sequence[Callback] = (), progress: bool | None = None,
                    desc: str = "", scheduler=None) -> tuple[torch.Tensor, int, int]:
    """Train one epoch; return (per-batch losses on the host, correct predictions, images seen).

    ``scheduler``, a learning-rate scheduler, is stepped after every optimizer step.

    Raises :class:`DivergenceError` naming the epoch and batch of the first NaN or inf loss.
    """
    device = next(model.parameters()).device
    check_each = device.type == "cpu"
    # Preallocated for the same reason as in evaluate(): no small tensor kept per batch.
    device_losses = torch.empty(len(loader), dtype=torch.float32, device=device)  # float64: not on MPS
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    batches = 0
    bar = tqdm(loader, desc=desc, leave=False, disable=tqdm_disable(progress), dynamic_ncols=True)
    for batch, (x, y) in enumerate(bar):
        for cb in callbacks:
            cb.on_step_start(step + batch, epoch, x, y)
        optimizer.zero_grad(set_to_none=True)
        out = model(x)
        loss = loss_fn(out, y)
        if check_each and not math.isfinite(loss.item()):
            raise _diverged(loss.item(), epoch, batch + 1)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        loss = loss.detach()
        device_losses[batch] = loss
        correct += (out.detach().argmax(1) == y).sum()
        seen += len(y)
        batches += 1
        for cb in callbacks:
            cb.on_step_end(step + batch, epoch, x, y, loss)
    if not batches:
        return torch.empty(0, dtype=torch.float64), 0, 0
    losses = device_losses[:batches].cpu().double()  # the one host sync of the epoch
    bad = (~torch.isfinite(losses)).nonzero()
    if len(bad):
        raise _diverged(losses[int(bad[0])].item(), epoch, int(bad[0]) + 1)
    return losses, int(correct), seen


@dataclass
class RunState:
    """What a checkpoint restores: everything the next epoch depends on."""

    epoch: int  # epochs finished
    result: RunRecord
    best_state: dict[str, torch.Tensor] | None = None
    best_accuracy: float = -1.0


def _rng_payload(train_loader) -> dict[str, Any]:
    payload = {"torch": torch.get_rng_state(), "loader": train_loader.generator.get_state()}
    if torch.cuda.is_available():
        payload["cuda"] = torch.cuda.get_rng_state_all()
    return payload


def _restore_rng(payload: dict[str, Any], train_loader) -> None:
    torch.set_rng_state(payload["torch"])
    train_loader.generator.set_state(payload["loader"])
    if "cuda" in payload and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(payload["cuda"])


def fit(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable, train_loader, val_loader, *,
        epochs: int, protocol: Protocol, result: RunRecord, train_eval_loader=None, test_loader=None,
        val_loss_batch_size: int | None = None, callbacks: Sequence[Callback] = (), progress: bool | None = None,
        checkpoint_path: str | Path | None = None, checkpoint_extra: dict[str, Any] | None = None,
        state: RunState | None = None, num_classes: int | None = None, scheduler=None) -> RunRecord:
    """Train ``model`` for ``epochs`` epochs under ``protocol`` and fill ``result``.

    ``train_eval_loader`` is the full-training-set pass the ``blog`` protocol makes after each
    epoch. ``val_loss_batch_size`` logs validation losses per batch of that size, whatever
    ``val_loader``'s batch size (see :func:`evaluate`). ``test_loader``, given when a held-out
    validation split exists, is evaluated once at the end with the weights of the best
    validation epoch. ``state`` resumes from a checkpoint. ``scheduler`` (:func:`build_scheduler`)
    is stepped after every batch, checkpointed, and the rate each epoch starts at is recorded in
    ``result.diagnostics["learning_rate"]["epoch_start"]``.

    A run diverges at the first NaN or infinite training loss (the epoch and batch are named)
    and, given ``num_classes`` (a cross-entropy loss over that many classes), at the first epoch
    whose mean training loss exceeds :func:`divergence_limit` (the epoch is named, the batch is
    None). It then stops at once and returns with ``status="diverged"`` and the reason in
    ``message``; the diverged epoch is not recorded.
    """
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 2):
        raise ConfigError(f"num_classes must be an integer >= 2 (or None: no loss limit), got {num_classes!r}")
    state = state or RunState(epoch=0, result=result)
    result = state.result
    steps_per_epoch = len(train_loader)
    if state.epoch == 0 and protocol.mode_bug:
        # The post calls train() once, before the loop; its accuracy function then calls eval()
        # and nothing calls train() again, so epochs 2+ train with BN's running statistics.
        model.train()
    for cb in callbacks:
        cb.on_train_start(model, optimizer, loss_fn)
    try:
        for epoch in range(state.epoch + 1, epochs + 1):
            start = time.perf_counter()
            if not protocol.mode_bug:
                model.train()
            start_lr = optimizer.param_groups[0]["lr"]
            losses, correct, seen = train_one_epoch(model, optimizer, loss_fn, train_loader, epoch=epoch,
                                                    step=(epoch - 1) * steps_per_epoch, callbacks=callbacks,
                                                    progress=progress, desc=f"epoch {epoch}/{epochs}",
                                                    scheduler=scheduler)
            train_time = time.perf_counter() - start
            if num_classes is not None and len(losses):
                # The first step's loss is the untrained network's; a resumed run has it stored.
                initial = result.train_loss_per_batch[0] if result.train_loss_per_batch else float(losses[0])
                _check_epoch_loss(float(losses.mean()), epoch=epoch, initial_loss=initial, num_classes=num_classes)
            restore = not protocol.mode_bug
            if protocol.full_train_accuracy:
                train_acc = evaluate(model, train_eval_loader, loss_fn, restore_mode=restore).accuracy
            else:
                train_acc = correct / max(seen, 1)
            val = evaluate(model, val_loader, loss_fn, restore_mode=restore, loss_batch_size=val_loss_batch_size)
            elapsed = time.perf_counter() - start

            result.train_loss_per_batch.extend(losses.tolist())
            result.train_loss.append(float(losses.mean()) if len(losses) else float("nan"))
            result.train_accuracy.append(train_acc)
            result.val_loss_per_batch.extend(val.batch_losses)
            result.val_loss.append(val.loss)
            result.val_accuracy.append(val.accuracy)
            result.epoch_seconds.append(elapsed)
            result.train_seconds.append(train_time)
            result.images_per_second.append(seen / train_time if train_time > 0 else float("nan"))
            if scheduler is not None:
                result.diagnostics.setdefault("learning_rate", {"epoch_start": []})["epoch_start"].append(start_lr)
            if test_loader is not None and val.accuracy > state.best_accuracy:
                state.best_accuracy = val.accuracy
                state.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                result.test_epoch = epoch
            state.epoch = epoch
            for cb in callbacks:
                cb.on_epoch_end(epoch, result)
            if checkpoint_path is not None:
                save_checkpoint(checkpoint_path, {
                    **(checkpoint_extra or {}), "epoch": epoch, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "training_mode": model.training,
                    "scheduler": None if scheduler is None else scheduler.state_dict(),
                    "rng": _rng_payload(train_loader), "result": result.to_dict(),
                    "best_state": state.best_state, "best_accuracy": state.best_accuracy})
    except DivergenceError as exc:
        result.status = "diverged"
        result.message = str(exc)
        result.diverged_epoch, result.diverged_batch = exc.epoch, exc.batch
        _end(callbacks, result)
        return result
    except BaseException:
        # Interrupted or failed: callbacks still tear down (a diagnostic removes its hooks).
        _end(callbacks, result)
        raise

    if test_loader is not None and state.best_state is not None:
        current = copy.deepcopy(model.state_dict())
        model.load_state_dict(state.best_state)
        test = evaluate(model, test_loader, loss_fn)
        model.load_state_dict(current)
        result.test_accuracy, result.test_loss = test.accuracy, test.loss
    result.status = "done"
    _end(callbacks, result)
    return result


def _end(callbacks: Sequence[Callback], result: RunRecord) -> None:
    for cb in callbacks:
        cb.on_train_end(result)


def build_model(config: TrainConfig) -> nn.Module:
    """Create the config's model with its initial weights (``config.init``: the post's or d2l's), seeded by
    ``config.seed``.

    Norm layers draw no random numbers, so for one seed the plain and BN networks start from
    the same convolution and linear weights: a paired comparison is not the luck of one draw.
    """
    from normlab.models import apply_init, create_model

    torch.manual_seed(config.seed)
    model = create_model(config.model, head=config.resolved_head, input_size=input_size_for(config.transform))
    return apply_init(model, config.init)


def make_loaders(config: TrainConfig, splits, device: torch.device) -> dict[str, Any]:
    """Build the loaders a run needs from ``splits`` (a :class:`normlab.data.DataSplits`)."""
    from normlab.data import BatchLoader

    protocol = get_protocol(config.protocol)
    # Its own generator, seeded from the run's seed, so the data order does not depend on how
    # many random numbers the model or a diagnostic drew.
    generator = torch.Generator().manual_seed(config.seed)
    loaders = {
        "train": BatchLoader(splits.train, config.batch_size, shuffle=protocol.shuffle,
                             generator=generator, device=device, cache=True),
        # Per-batch validation losses are logged at the training batch size, as the post does;
        # fit() computes them from per-sample losses (val_loss_batch_size), so the forward passes
        # can use the evaluation batch size, which is faster per image.
        "val": BatchLoader(splits.val if splits.val is not None else splits.test,
                           max(config.batch_size, config.eval_batch_size), device=device, cache=True),
        "train_eval": None,
        "test": None,
    }
    if protocol.full_train_accuracy:
        loaders["train_eval"] = BatchLoader(splits.train, config.eval_batch_size, device=device, cache=True)
    if splits.val is not None:
        loaders["test"] = BatchLoader(splits.test, config.eval_batch_size, device=device, cache=True)
    return loaders


def load_data(config: TrainConfig, data_dir: str | Path | None = None):
    """Load the config's dataset splits (val hold-out, subset, transform, input normalisation)."""
    from normlab.data import load_splits

    return load_splits(config.dataset, transform=config.transform, val_split=config.val_split,
                       input_norm=config.input_norm, subset=config.subset, data_dir=data_dir)


def train(config: TrainConfig, *, splits=None, data_dir: str | Path | None = None,
          checkpoint_path: str | Path | None = None, resume: bool = False, callbacks: Sequence[Callback] = (),
          progress: bool | None = None) -> RunRecord:
    """Run one training job described by ``config`` and return its :class:`RunRecord`.

    ``splits`` lets a caller (a study) load the data once and share it between runs; they are
    scaled as ``config.input_norm`` says, whatever input normalisation they carry.
    With ``checkpoint_path`` a checkpoint is written atomically at every epoch end; with
    ``resume=True`` an existing checkpoint there is continued, giving on the CPU the same numbers
    as a run that was never stopped. The config's names are checked first
    (:func:`~normlab.train.resolve.resolve`). Measurements that ``config.diagnostics`` asks for are
    recorded by callbacks the caller builds (a ConfigError says so when none does). Example::

        from normlab.diagnostics import build_diagnostics
        from normlab.train import TrainConfig, train
        config = TrainConfig(model="lenet5-bn", epochs=1, subset=2000, diagnostics={"activations": 100})
        result = train(config, callbacks=build_diagnostics(config.diagnostics))
        print(result.val_accuracy, sorted(result.diagnostics))
    """
    resolve(config)
    # Measurements are built by the caller (normlab.train never imports normlab.diagnostics);
    # a config asking for some that no callback records would store a result without them.
    if config.diagnostics and not any(getattr(cb, "diagnostics", None) == config.diagnostics for cb in callbacks):
        raise ConfigError(f"config.diagnostics asks for {', '.join(map(str, config.diagnostics))}, which train() "
                          "does not record itself: pass callbacks=[..., *normlab.diagnostics.build_diagnostics("
                          "config.diagnostics)]")
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    protocol = get_protocol(config.protocol)
    if splits is None:
        splits = load_data(config, data_dir)
    # Shared splits may carry another run's input normalisation; the raw images are the same.
    splits = splits.scaled(config.input_norm)
    seed_everything(config.seed)
    model = build_model(config).to(device)
    environment = accelerate(model, enabled=config.accelerate)  # the CPU fast path (normlab.fast)
    optimizer = build_optimizer(config, model.parameters())
    loaders = make_loaders(config, splits, device)
    # Built before a resume loads the optimizer's state, which then overwrites the rate it sets.
    scheduler = build_scheduler(config, optimizer, len(loaders["train"]))
    result = RunRecord(config=config.to_dict(), device=str(device), host=socket.gethostname(),
                       val_split_name="val" if splits.val is not None else "test")
    state = None
    if resume and checkpoint_path is not None and Path(checkpoint_path).exists():
        state = _resume(checkpoint_path, config, model, optimizer, loaders["train"], device, scheduler)
        result = state.result
    # What ran goes with the numbers, since it changes them in the last bits (this process's, on resume).
    result.environment = {**environment, "fused_adam": bool(optimizer.param_groups[0].get("fused"))}
    # Cross-entropy, as in the post. Under the blog protocol the head returns softmax
    # probabilities, which this loss softmaxes again: the post's bug, kept there on purpose.
    loss_fn = nn.CrossEntropyLoss()
    extra = {"config": config.to_dict(), "data_stats": {"mean": splits.train.mean, "std": splits.train.std}}
    return fit(model, optimizer, loss_fn, loaders["train"], loaders["val"], epochs=config.epochs, protocol=protocol,
               result=result, train_eval_loader=loaders["train_eval"], val_loss_batch_size=config.batch_size,
               test_loader=loaders["test"], callbacks=callbacks, progress=progress, checkpoint_path=checkpoint_path,
               checkpoint_extra=extra, state=state, num_classes=splits.train.num_classes, scheduler=scheduler)


def _resume(path, config: TrainConfig, model, optimizer, train_loader, device, scheduler=None) -> RunState:
    payload = load_checkpoint(path)
    saved = TrainConfig.from_dict(payload["config"])
    check_compatible(path, saved.identity(), config.identity())
    try:
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        # The saved param groups carry the saved run's fused flag; this run's config decides.
        for group in optimizer.param_groups:
            group["fused"] = optimizer.defaults.get("fused")
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path} does not fit model {config.model!r}: {exc}") from exc
    if scheduler is not None:
        _load_scheduler(path, config, scheduler, payload.get("scheduler"))
    model.train(bool(payload.get("training_mode", True)))
    _restore_rng(payload["rng"], train_loader)
    result = RunRecord.from_dict(payload["result"])
    result.config = config.to_dict()
    result.device = str(device)
    result.host = socket.gethostname()
    best = payload.get("best_state")
    return RunState(epoch=int(payload["epoch"]), result=result,
                    best_state=None if best is None else {k: v.to(device) for k, v in best.items()},
                    best_accuracy=float(payload.get("best_accuracy", -1.0)))


def _load_scheduler(path, config: TrainConfig, scheduler, saved: dict[str, Any] | None) -> None:
    if saved is None:
        raise CheckpointError(f"checkpoint {path} lacks its 'scheduler' entry, which the {config.lr_schedule!r} "
                              "schedule needs to resume")
    # The schedule's own settings (how many steps it spans, from and to which rate) must be this run's; only
    # how far it has gone comes from the checkpoint.
    settings = ("T_max", "eta_min", "total_steps", "base_lrs")
    expected = {k: getattr(scheduler, k) for k in settings if hasattr(scheduler, k)}
    scheduler.load_state_dict(saved)
    differ = [f"{k} {getattr(scheduler, k, None)!r} vs {v!r}" for k, v in expected.items()
              if getattr(scheduler, k, None) != v]
    if differ:
        raise CheckpointError(f"checkpoint {path} was written for another schedule: {'; '.join(differ)} (this run's)")
