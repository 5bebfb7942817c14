"""Opt-in measurements recorded during training: activation statistics, smoothness, gradient norms.

Switch them on in the config (or with ``--record-activations``, ``--record-smoothness`` and
``--record-grad-norms``)::

    TrainConfig(model="lenet5-bn", diagnostics={"activations": {"every": 100},
                                               "smoothness": {"every": 200},
                                               "grad_norms": {"every": 100}})

Each setting may also be a bare step count (``{"activations": 100}``); ``every=0`` switches
a measurement off. Whoever calls :func:`normlab.train.train` builds the callback with
:func:`build_diagnostics` (the engines' workers and ``normlab train`` do)::

    train(config, callbacks=build_diagnostics(config.diagnostics))

and the data lands in ``RunRecord.diagnostics`` (and the results database), one entry per
measurement plus ``"cost"``:

============ ============================================================ ======================
name         what                                                         module
============ ============================================================ ======================
activations  15/50/85th percentiles, mean and std of the input to every    :mod:`.activations`
             nonlinearity (Ioffe & Szegedy 2015, figure 1)
smoothness   loss range, gradient predictiveness and effective             :mod:`.smoothness`
             β-smoothness along the optimizer's update (or the gradient)
             (Santurkar et al. 2018)
grad_norms   per-parameter gradient (and weight) norms                     :mod:`.gradients`
cost         each measurement's wall time against the training step's     :mod:`.callback`
============ ============================================================ ======================

Schedule: every ``every`` steps counted from 0 over the run, step 0 included. Activations and
smoothness describe the weights *before* the scheduled step's update, on its batch; gradient
norms are the gradient that step used. Recording does not change any training number: the
activation hooks only read the training forward's values, and the smoothness probe restores
parameters, buffers, gradients, modes, random generators and the optimizer's state exactly.
"""

from __future__ import annotations

import importlib
from typing import Any

from normlab.errors import ConfigError

#: What each measurement records, by the name used in ``TrainConfig.diagnostics``.
DESCRIPTIONS = {
    "activations": "the 15/50/85th percentiles, mean and std of the input to each nonlinearity",
    "smoothness": "the loss range, gradient predictiveness and beta-smoothness along the optimizer's update "
                  "(8 forward/backward passes per record)",
    "grad_norms": "per-parameter gradient norms",
}

#: Default steps between records when a flag is given without a number.
DEFAULT_EVERY = {"activations": 100, "smoothness": 100, "grad_norms": 100}

# PEP 562: the measurements need torch, the names and defaults above (the command line's) do not.
_EXPORTS = {
    "ActivationRecorder": "activations", "percentiles": "activations", "unit_statistics": "activations",
    "Measurement": "base", "Schedule": "base",
    "DiagnosticsCallback": "callback",
    "GradNormRecorder": "gradients", "gradient_norms": "gradients", "parameter_norms": "gradients",
    "DEFAULT_SCALES": "smoothness", "DIRECTIONS": "smoothness", "SmoothnessRecorder": "smoothness",
    "optimizer_update": "smoothness", "preserved_optimizer": "smoothness", "preserved_state": "smoothness",
    "probe_smoothness": "smoothness",
}

__all__ = sorted([*_EXPORTS, "DEFAULT_EVERY", "DESCRIPTIONS", "DIAGNOSTICS", "build_diagnostics",
                  "build_measurements", "validate_diagnostics"])


def __getattr__(name: str):
    if name == "DIAGNOSTICS":
        value = measurement_classes()
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def measurement_classes() -> dict[str, type]:
    """The :class:`Measurement` classes by the name used in ``TrainConfig.diagnostics`` (``DIAGNOSTICS``)."""
    from normlab.diagnostics.activations import ActivationRecorder
    from normlab.diagnostics.gradients import GradNormRecorder
    from normlab.diagnostics.smoothness import SmoothnessRecorder

    return {c.name: c for c in (ActivationRecorder, SmoothnessRecorder, GradNormRecorder)}


def build_measurements(diagnostics: dict[str, Any] | None) -> list:
    """The measurements a ``TrainConfig.diagnostics`` dict asks for (switched-off ones left out).

    Raises :class:`~normlab.errors.ConfigError` naming an unknown measurement or setting.
    """
    if not diagnostics:
        return []
    if not isinstance(diagnostics, dict):
        raise ConfigError(f"diagnostics must be a dict such as {{'activations': {{'every': 100}}}}; got {diagnostics!r}")
    unknown = sorted(set(diagnostics) - set(DESCRIPTIONS), key=str)
    if unknown:
        raise ConfigError(f"unknown diagnostic(s) {', '.join(map(repr, unknown))}; valid: {', '.join(DESCRIPTIONS)}")
    classes = measurement_classes()
    measurements = [classes[name].from_options(options) for name, options in diagnostics.items()]
    return [m for m in measurements if m.schedule.every > 0]


def validate_diagnostics(diagnostics: dict[str, Any] | None) -> None:
    """Raise :class:`~normlab.errors.ConfigError` if ``diagnostics`` is not a valid settings dict."""
    build_measurements(diagnostics)


def build_diagnostics(diagnostics: dict[str, Any] | None) -> list:
    """The training callbacks that record ``diagnostics`` (a ``TrainConfig.diagnostics`` dict).

    None for an empty dict; otherwise one :class:`DiagnosticsCallback`, which also tells
    :func:`normlab.train.train` that these settings are recorded (even when all are switched off).
    Raises :class:`~normlab.errors.ConfigError` naming an unknown measurement or setting.
    """
    if not diagnostics:
        return []
    from normlab.diagnostics.callback import DiagnosticsCallback

    return [DiagnosticsCallback(build_measurements(diagnostics), settings=diagnostics)]
