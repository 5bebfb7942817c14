"""Shared fixtures: the real MNIST and Fashion-MNIST from NORMLAB_DATA, and small MNIST subsets."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch

# A shell without job control starts background jobs (`make test &` in a script) with SIGINT
# ignored, and ignored signals stay ignored in every child. The interrupt tests need SIGINT
# delivered, so the tests (and the commands they start) get Python's own handler back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# LeNet-5's layers are too small for intra-op threads to pay off, and on a busy machine
# OpenMP's spinning threads slow the tests down many times over; one thread keeps them fast.
torch.set_num_threads(1)


def env_dataset_dir(name: str) -> Path | None:
    """The folder NORMLAB_DATA provides for dataset ``name``, found as normlab itself finds it.

    NORMLAB_DATA may be the folder of per-dataset subfolders (what `make test` sets) or, for
    MNIST only, the MNIST folder itself.
    """
    from normlab.data.download import env_directory

    return env_directory(name)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The MNIST folder NORMLAB_DATA provides (tests that need it skip when it provides none)."""
    path = env_dataset_dir("mnist")
    if path is None:
        pytest.skip("NORMLAB_DATA provides no MNIST folder (make test sets it)")
    return path


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    """The Fashion-MNIST folder, ``$NORMLAB_DATA/fashion-mnist/`` (skips when there is none)."""
    path = env_dataset_dir("fashion-mnist")
    if path is None:
        pytest.skip("NORMLAB_DATA has no fashion-mnist/ folder (make test sets ../shared/datasets)")
    return path


@pytest.fixture(scope="session")
def small_splits(data_dir):
    """1,024 training images and the full test set, resized to 32x32 as in the post."""
    from normlab.data import load_splits

    splits = load_splits("mnist", transform="resize32", subset=1024, data_dir=data_dir)
    # Evaluating 10,000 test images every epoch would dominate the tests' time.
    splits.test = splits.test.subset(512)
    return splits


def run_record(**fields):
    """A ``RunRecord`` as the results store returns it, with plausible values for the identity
    and provenance fields a test leaves out (its metrics are the test's)."""
    from normlab.train.record import RunRecord

    defaults = dict(study="s", config_hash="", status="done", normlab_version="0.1.0", git_rev="1a2b3c4",
                    torch_version="2.13.0+cpu", host="lab-box-7")
    return RunRecord(**{**defaults, **fields})


def assert_same_forward_and_grads(model, reference, x, y, *, out_tol: dict, grad_tol: dict) -> None:
    """Run ``model`` and ``reference`` (in whatever mode they are in) on ``x``, check that their
    outputs agree within ``out_tol``, back-propagate cross-entropy against ``y`` through both and
    check that every parameter's gradient agrees within ``grad_tol`` (assert_close's atol/rtol)."""
    import torch.nn.functional as F

    out, ref = model(x), reference(x)
    torch.testing.assert_close(out, ref, **out_tol)
    F.cross_entropy(out, y).backward()
    F.cross_entropy(ref, y).backward()
    ref_params = dict(reference.named_parameters())
    for key, param in model.named_parameters():
        torch.testing.assert_close(param.grad, ref_params[key].grad, **grad_tol, msg=key)
