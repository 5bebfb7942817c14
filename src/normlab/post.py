"""The post "Batch normalization in convolutional neural networks": its numbers and its networks.

One place for what the post reports and what its code is (and LeCun et al.'s 1998 test error,
the figure its LeNet-5 is held against), shared by ``normlab compare``, the report, the tests
and the benchmarks. The numbers import without torch; the post's two network
classes, verbatim (``LeNet5`` and ``LeNet5_BatchNorm``), are defined when first used.
"""

from __future__ import annotations

from typing import Any

#: What the post reports from its single run per model: validation accuracy after epoch 1 and
#: after epoch 10, read off its figures (hence "about"), with the value the words stand for.
POST_REPORTED = {
    "lenet5": {"epoch1": "about 93%", "epoch1_value": 0.93, "final": "just above 98%", "final_value": 0.98},
    "lenet5-bn": {"epoch1": "just above 95%", "epoch1_value": 0.95, "final": "about 98.5%", "final_value": 0.985},
}

#: The post's settings: Adam at 1e-3, batch 64, 10 epochs, MNIST resized to 32x32 and scaled to [0, 1]
#: (ToTensor), test as validation.
POST_SETTINGS = {"dataset": "mnist", "optimizer": "adam", "lr": 1e-3, "batch_size": 64, "epochs": 10,
                 "transform": "resize32", "input_norm": "minmax"}

#: normlab's registry names of the post's two networks.
POST_MODELS = ("lenet5", "lenet5-bn")

#: The figure the post's LeNet-5 descends from: LeNet-5's MNIST test error without distortions in LeCun,
#: Bottou, Bengio & Haffner (1998), "Gradient-based learning applied to document recognition", Proc. IEEE
#: 86(11), Section III-B and Fig. 5, where the test error settles at 0.95% after about 10 of 20 passes over
#: all 60,000 training images (Fig. 9 sets it beside other classifiers). The lecun preset's report reads
#: its runs' test errors against it.
LECUN_TEST_ERROR = 0.0095
LECUN_SOURCE = "LeCun et al. (1998, Section III-B, Fig. 5)"

_NETWORKS: dict[str, Any] = {}


def _define_networks() -> dict[str, Any]:
    """The post's two classes, as its code writes them (only ``super().__init__()`` modernised)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class LeNet5(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5, stride=1)
            self.pool1 = nn.AvgPool2d(2)
            self.conv2 = nn.Conv2d(6, 16, 5, stride=1)
            self.pool2 = nn.AvgPool2d(2)
            self.linear1 = nn.Linear(5 * 5 * 16, 120)
            self.linear2 = nn.Linear(120, 84)
            self.linear3 = nn.Linear(84, 10)

        def forward(self, x):
            x = x.view(-1, 1, 32, 32)
            output_1 = self.pool1(torch.tanh(self.conv1(x)))
            output_2 = self.pool2(torch.tanh(self.conv2(output_1)))
            output_2 = output_2.view(-1, 5 * 5 * 16)
            output_3 = torch.tanh(self.linear1(output_2))
            output_4 = torch.tanh(self.linear2(output_3))
            output_5 = self.linear3(output_4)
            return F.softmax(output_5, dim=1)

    class LeNet5_BatchNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5, stride=1)
            self.batchnorm1 = nn.BatchNorm2d(6)
            self.pool1 = nn.AvgPool2d(2)
            self.conv2 = nn.Conv2d(6, 16, 5, stride=1)
            self.batchnorm2 = nn.BatchNorm2d(16)
            self.pool2 = nn.AvgPool2d(2)
            self.linear1 = nn.Linear(5 * 5 * 16, 120)
            self.linear2 = nn.Linear(120, 84)
            self.linear3 = nn.Linear(84, 10)

        def forward(self, x):
            x = x.view(-1, 1, 32, 32)
            output_1 = self.pool1(self.batchnorm1(torch.tanh(self.conv1(x))))
            output_2 = self.pool2(self.batchnorm2(torch.tanh(self.conv2(output_1))))
            output_2 = output_2.view(-1, 5 * 5 * 16)
            output_3 = torch.tanh(self.linear1(output_2))
            output_4 = torch.tanh(self.linear2(output_3))
            output_5 = self.linear3(output_4)
            return F.softmax(output_5, dim=1)

    def init_weights(module):
        # The post's initialisation: Xavier-uniform weights, biases 0.01.
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            torch.nn.init.xavier_uniform_(module.weight)
            module.bias.data.fill_(0.01)

    for cls in (LeNet5, LeNet5_BatchNorm):
        cls.__module__ = __name__
    return {"LeNet5": LeNet5, "LeNet5_BatchNorm": LeNet5_BatchNorm, "init_weights": init_weights}


def post_network(model: str):
    """The post's class for normlab's registry name ``model`` (``lenet5`` or ``lenet5-bn``)."""
    name = {"lenet5": "LeNet5", "lenet5-bn": "LeNet5_BatchNorm"}.get(model)
    if name is None:
        from normlab.errors import ConfigError

        raise ConfigError(f"the post has no network {model!r}; it has {', '.join(POST_MODELS)}")
    return __getattr__(name)


def __getattr__(name: str):
    if name not in ("LeNet5", "LeNet5_BatchNorm", "init_weights"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if not _NETWORKS:
        _NETWORKS.update(_define_networks())
    return _NETWORKS[name]
