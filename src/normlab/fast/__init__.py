"""normlab's CPU fast path, applied explicitly to a plain model (results equal up to float rounding).

::

    from normlab.fast import accelerate, create_optimizer
    from normlab.models import create_model

    model = create_model("lenet5-bn")                # plain PyTorch: nn.Conv2d, nn.AvgPool2d, ...
    record = accelerate(model)                       # in place; what ran, and why not
    optimizer = create_optimizer("adam", model.parameters(), lr=1e-3)  # fused Adam where available

:func:`normlab.train.train` does both unless the config says ``accelerate=False``, and keeps the
record in ``RunRecord.environment``. :func:`tune_malloc` sets glibc up for a process that trains
(the ``normlab`` command does it for itself). Results equal the plain model's up to float
rounding; benchmarks/RESULTS.md has the speed.
"""

from normlab._lazy import lazy_exports

# PEP 562: names load on first use, so tune_malloc (which the command line calls before it knows
# whether it will train) comes without torch.
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "normlab.fast.apply": "accelerate",
    "normlab.fast.pool": "AvgPool2x2 MaxPool2x2",
    "normlab.fast.conv": "FastConv2d",
    "normlab.fast.optim": "create_optimizer",
    "normlab.fast.malloc": "tune_malloc",
}, globals())
