"""Every registered zoo model trains from the command line on the offline digits (one grey channel, 10 classes),
at the smallest input size it takes; a size it cannot take is refused in one line before anything is written."""
import json
import math
import os

import mxnet as mx
import pytest

from bmxnet_ext.cli import ToolError
from model_zoo import get_model, list_models
from model_zoo.input_size import smallest_input_size, takes_input
from tools.train.cli import main

#: Models whose two-batch run takes more than a few seconds here (tens of millions of parameters to initialise,
#: checkpoint and export).
SLOW = {"alexnet", "binary_alexnet", "dorefanet", "xnornet", "densenet45", "resnet34_wide", "resnet68_wide",
        "inception_bn"}


def _zoo_params():
    return [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name for name in list_models()]


@pytest.mark.parametrize("name", _zoo_params())
def test_every_zoo_model_trains_two_batches_on_digits(tmp_path, name):
    size = smallest_input_size(get_model(name, classes=10, in_channels=1), 1)
    assert size is not None
    run_dir = tmp_path / "run"
    assert main(["--model", name, "--dataset", "digits", "--image-size", str(size), "--batch-size", "2",
                 "--limit-batches", "2", "--epochs", "1", "--optimizer", "sgd", "--momentum", "0", "--no-progress",
                 "--run-dir", str(run_dir)]) == 0  # plain SGD: no optimizer state to checkpoint
    (record,) = [json.loads(line) for line in open(run_dir / "log.jsonl")]
    assert math.isfinite(record["train_loss"]) and 0 <= record["eval_accuracy"] <= 1
    params = mx.nd.load(str(run_dir / "model-0000.params"))
    first_conv = next(v for v in params.values() if v.ndim == 4)
    assert first_conv.shape[1] == 1  # built for the data's one channel
    assert next(v for k, v in reversed(list(params.items())) if k.endswith("weight")).shape[0] == 10


@pytest.mark.parametrize("name", list_models())
def test_every_zoo_constructor_takes_in_channels_and_its_own_input(name):
    for channels in (1, 3):
        net = get_model(name, in_channels=channels)
        assert takes_input(net, (channels, 224, 224)) or name == "lenet"
        assert not takes_input(net, (4, 224, 224))


def test_smallest_input_sizes_follow_the_downsampling():
    """LeNet's FC expects 64 x 4 x 4 (28 to 31); the ImageNet-stem DenseNet pools 2x2 without padding three
    times after a stem that divides by 4 (29 -> 8 -> 4 -> 2 -> 1); padded strided ResNets take 1 x 1; ResNet-E's
    pooled shortcuts must meet its strided convolutions (29 works, 48 does not: 3 -> 2 by the convolution, 1 by
    the pool)."""
    expected = {"lenet": 28, "densenet21": 29, "resnet18": 1, "resnet_e18": 29, "densenet21_cifar": 8}
    for name, size in expected.items():
        net = get_model(name, in_channels=1)
        assert smallest_input_size(net, 1) == size, name
    lenet = get_model("lenet")
    assert takes_input(lenet, (1, 31, 31)) and not takes_input(lenet, (1, 27, 27))
    assert not takes_input(lenet, (1, 32, 32))  # 32 -> 28 -> 14 -> 10 -> 5: the FC would get 64 x 5 x 5
    assert not takes_input(get_model("resnet_e18", in_channels=1), (1, 48, 48))


def test_a_size_the_model_cannot_take_is_one_line_before_anything_is_written(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(ToolError, match=r"^Model 'densenet21' cannot take 1 x 28 x 28 inputs .*smallest square "
                                        r"input it takes is 29 x 29: pass --image-size 29\.$"):
        main(["--model", "densenet21", "--dataset", "digits", "--run-dir", str(run_dir)])
    assert not os.path.exists(run_dir)
