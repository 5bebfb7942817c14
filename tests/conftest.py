"""Shared fixtures: the real MNIST from NORMLAB_DATA, loaded once, and small subsets of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# LeNet-5's layers are too small for intra-op threads to pay off, and on a busy machine
# OpenMP's spinning threads slow the tests down many times over; one thread keeps them fast.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The MNIST folder named by NORMLAB_DATA (tests that need it skip when it is unset)."""
    path = os.environ.get("NORMLAB_DATA")
    if not path or not Path(path).is_dir():
        pytest.skip("NORMLAB_DATA is not set to the MNIST folder (make test sets it)")
    return Path(path)


@pytest.fixture(scope="session")
def small_splits(data_dir):
    """1,024 training images and the full test set, resized to 32x32 as in the post."""
    from normlab.data import load_splits

    splits = load_splits("mnist", transform="resize32", subset=1024, data_dir=data_dir)
    # Evaluating 10,000 test images every epoch would dominate the tests' time.
    splits.test = splits.test.subset(512)
    return splits
