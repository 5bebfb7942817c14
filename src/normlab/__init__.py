"""normlab: understand and measure normalisation in convolutional networks.

The package is laid out one concern per module:

- ``normlab.data``: IDX files, the dataset registry, downloads, in-memory datasets and loaders.
- ``normlab.normalize``: data normalisers (min-max, z-score) and streaming scalers.
- ``normlab.models``: LeNet-5 and the norm-layer factory.
- ``normlab.train``: the trainer, its config and checkpoints.
- ``normlab.experiments``: multi-seed studies, the results database, statistics and engines.
- ``normlab.report``: figures and the HTML / Markdown report.
- ``normlab.cli``: the ``normlab`` command.
"""

__version__ = "0.1.0"
