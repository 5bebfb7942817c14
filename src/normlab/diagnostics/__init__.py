"""Opt-in measurements recorded during training: activation statistics, smoothness, gradient norms.

Switch them on in the config (or with ``--record-activations``, ``--record-smoothness`` and
``--record-grad-norms``)::

    TrainConfig(model="lenet5-bn", diagnostics={"activations": {"every": 100},
                                               "smoothness": {"every": 200},
                                               "grad_norms": {"every": 100}})

Each setting may also be a bare step count (``{"activations": 100}``); ``every=0`` switches
a measurement off. :func:`normlab.train.train` builds the callback with
:func:`build_diagnostics` and the data lands in ``RunResult.diagnostics`` (and the results
database), one entry per measurement plus ``"cost"``:

============ ============================================================ ======================
name         what                                                         module
============ ============================================================ ======================
activations  15/50/85th percentiles, mean and std of the input to every    :mod:`.activations`
             nonlinearity (Ioffe & Szegedy 2015, figure 1)
smoothness   loss range, gradient predictiveness and effective             :mod:`.smoothness`
             β-smoothness along the gradient (Santurkar et al. 2018)
grad_norms   per-parameter gradient (and weight) norms                     :mod:`.gradients`
cost         each measurement's wall time against the training step's     :mod:`.callback`
============ ============================================================ ======================

Schedule: every ``every`` steps counted from 0 over the run, step 0 included. Activations and
smoothness describe the weights *before* the scheduled step's update, on its batch; gradient
norms are the gradient that step used. Recording does not change any training number: the
activation hooks only read the training forward's values, and the smoothness probe restores
parameters, buffers, gradients, modes and random generators exactly.
"""

from __future__ import annotations

from typing import Any

from normlab.diagnostics.activations import ActivationRecorder, percentiles, unit_statistics
from normlab.diagnostics.base import Measurement, Schedule
from normlab.diagnostics.callback import DiagnosticsCallback
from normlab.diagnostics.gradients import GradNormRecorder, gradient_norms, parameter_norms
from normlab.diagnostics.smoothness import DEFAULT_SCALES, SmoothnessRecorder, preserved_state, probe_smoothness
from normlab.errors import ConfigError

__all__ = [
    "DEFAULT_EVERY",
    "DEFAULT_SCALES",
    "DIAGNOSTICS",
    "ActivationRecorder",
    "DiagnosticsCallback",
    "GradNormRecorder",
    "Measurement",
    "Schedule",
    "SmoothnessRecorder",
    "build_diagnostics",
    "build_measurements",
    "gradient_norms",
    "parameter_norms",
    "percentiles",
    "preserved_state",
    "probe_smoothness",
    "unit_statistics",
    "validate_diagnostics",
]

#: The measurements by the name used in ``TrainConfig.diagnostics``.
DIAGNOSTICS: dict[str, type[Measurement]] = {
    "activations": ActivationRecorder,
    "smoothness": SmoothnessRecorder,
    "grad_norms": GradNormRecorder,
}

#: Default steps between records when a flag is given without a number.
DEFAULT_EVERY = {"activations": 100, "smoothness": 100, "grad_norms": 100}


def build_measurements(diagnostics: dict[str, Any] | None) -> list[Measurement]:
    """The measurements a ``TrainConfig.diagnostics`` dict asks for (switched-off ones left out).

    Raises :class:`~normlab.errors.ConfigError` naming an unknown measurement or setting.
    """
    if not diagnostics:
        return []
    if not isinstance(diagnostics, dict):
        raise ConfigError(f"diagnostics must be a dict such as {{'activations': {{'every': 100}}}}; got {diagnostics!r}")
    unknown = sorted(set(diagnostics) - set(DIAGNOSTICS))
    if unknown:
        raise ConfigError(f"unknown diagnostic(s) {', '.join(map(repr, unknown))}; valid: {', '.join(DIAGNOSTICS)}")
    measurements = [DIAGNOSTICS[name].from_options(options) for name, options in diagnostics.items()]
    return [m for m in measurements if m.schedule.every > 0]


def validate_diagnostics(diagnostics: dict[str, Any] | None) -> None:
    """Raise :class:`~normlab.errors.ConfigError` if ``diagnostics`` is not a valid settings dict."""
    build_measurements(diagnostics)


def build_diagnostics(config) -> list:
    """The training callbacks for ``config.diagnostics``: none, or one :class:`DiagnosticsCallback`."""
    measurements = build_measurements(getattr(config, "diagnostics", None))
    if not measurements:
        return []
    return [DiagnosticsCallback(measurements)]

