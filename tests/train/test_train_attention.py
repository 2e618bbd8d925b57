"""Real-to-Binary Net's attention matching loss (--attention-loss-weight): the formula, its wiring into the
distillation loss at the end of every stage, the refusals, and a two-batch command-line run."""
import functools
import json
import os

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from bmxnet_ext.cli import ToolError, UsageError
from model_zoo.real_to_binary import RealToBinaryNet
from tools.train.artifacts import export_model
from tools.train.cli import main
from tools.train.pipeline import create_net
from tools.train.stages import (attention_loss, check_matched_shapes, distillation_loss, load_teacher,
                                with_stage_outputs)

SMALL = functools.partial(RealToBinaryNet, units=(1, 1), filters=(8, 8, 16))  # two stages, 16 x 16 inputs
SMALL_INPUT = (2, 1, 16, 16)


def _attention_reference(student, teacher):
    """Martinez et al. 2020, eq. 4, in float64: sum_j || Q_S / ||Q_S|| - Q_T / ||Q_T|| ||_2 per sample, with
    Q = sum over channels of A^2 flattened over (H, W)."""
    total = 0.0
    for a_s, a_t in zip(student, teacher):
        q_s, q_t = ((a.astype(np.float64) ** 2).sum(axis=1).reshape(len(a), -1) for a in (a_s, a_t))
        unit_s = q_s / np.linalg.norm(q_s, axis=1, keepdims=True)
        unit_t = q_t / np.linalg.norm(q_t, axis=1, keepdims=True)
        total = total + np.linalg.norm(unit_s - unit_t, axis=1)
    return total


def test_attention_loss_matches_a_numpy_transcription(rng):
    """Two transfer points; the teacher's channel counts differ from the student's (only H, W must agree)."""
    student = [rng.standard_normal((4, 3, 5, 5)), rng.standard_normal((4, 2, 3, 3))]
    teacher = [rng.standard_normal((4, 6, 5, 5)), rng.standard_normal((4, 2, 3, 3))]
    actual = attention_loss(mx.nd, [mx.nd.array(a) for a in student], [mx.nd.array(a) for a in teacher])
    assert actual.shape == (4,)
    np.testing.assert_allclose(actual.asnumpy(), _attention_reference(student, teacher), rtol=1e-5)


def test_attention_loss_of_equal_maps_is_zero_with_a_finite_gradient(rng):
    a = mx.nd.array(rng.standard_normal((2, 3, 4, 4)))
    a.attach_grad()
    with autograd.record():
        loss = attention_loss(mx.nd, [a], [a.copy()])
    loss.backward()
    assert np.abs(loss.asnumpy()).max() < 1e-5 and np.isfinite(a.grad.asnumpy()).all()


@pytest.fixture(scope="module")
def small_teacher(tmp_path_factory):
    """The float twin (--bits 32) of the small Real-to-Binary Net, exported as a bmxnet-train run leaves it."""
    run_dir = tmp_path_factory.mktemp("teacher")
    net = create_net(SMALL, classes=10, seed=3, ctx=[mx.cpu()], input_shape=(1,) + SMALL_INPUT[1:], bits=32)
    export_model(net, str(run_dir))
    return str(run_dir)


def test_distillation_adds_beta_times_the_attention_loss_at_the_end_of_every_stage(small_teacher, rng):
    student = create_net(SMALL, classes=10, seed=4, ctx=[mx.cpu()], input_shape=(1,) + SMALL_INPUT[1:])
    features, names = with_stage_outputs(student)
    assert names == ["stage1_block1__plus0", "stage2_block1__plus0"]
    teacher = load_teacher(small_teacher, [mx.cpu()], outputs=names)
    x = mx.nd.array(rng.standard_normal(SMALL_INPUT))
    labels = mx.nd.array([3, 7])
    logits, *outputs = features(x)
    np.testing.assert_allclose(logits.asnumpy(), student(x).asnumpy(), rtol=1e-5, atol=1e-6)  # shared weights
    assert [o.shape for o in outputs] == [(2, 8, 4, 4), (2, 16, 2, 2)]
    beta = 2.5
    with_attention = distillation_loss(teacher, temperature=2.0, hard_weight=0.5, attention_weight=beta)
    without = distillation_loss(load_teacher(small_teacher, [mx.cpu()]), temperature=2.0, hard_weight=0.5)
    difference = with_attention(logits, labels, x, outputs).asnumpy() - without(logits, labels, x).asnumpy()
    expected = beta * _attention_reference([o.asnumpy() for o in outputs], [t.asnumpy() for t in teacher(x)[1:]])
    assert expected.min() > 0.01
    np.testing.assert_allclose(difference, expected, rtol=1e-4)
    with pytest.raises(ValueError, match="2 matched outputs, got 0"):
        with_attention(logits, labels, x)  # a caller that forgot the student's outputs


def test_mismatched_teachers_are_refused_in_one_line(small_teacher):
    with pytest.raises(ToolError, match="has no output stage3_block1__plus0 to match"):
        load_teacher(small_teacher, [mx.cpu()], outputs=["stage1_block1__plus0", "stage3_block1__plus0"])
    data = mx.sym.var("data")

    def block(pool):
        return mx.gluon.SymbolBlock(mx.sym.Group([mx.sym.flatten(data), pool]), data)

    student = block(mx.sym.Pooling(data, kernel=(2, 2), stride=(2, 2), pool_type="avg"))
    teacher = block(mx.sym.Pooling(data, kernel=(4, 4), stride=(4, 4), pool_type="avg"))
    with pytest.raises(ToolError, match=r"student's pool is \(1, 8, 8\), the teacher's \(1, 4, 4\): attention"):
        check_matched_shapes(student, teacher, ["pool"], (2, 1, 16, 16))
    check_matched_shapes(student, student, ["pool"], (2, 1, 16, 16))


@pytest.mark.slow
def test_the_command_line_trains_real_to_binary_net_with_attention_matching(tmp_path):
    """Two batches of real_to_binary_net on 32 x 32 digits, taught by its exported float twin."""
    teacher = create_net("real_to_binary_net", classes=10, seed=3, ctx=[mx.cpu()], input_shape=(1, 1, 32, 32),
                         bits=32)
    export_model(teacher, str(tmp_path))
    common = ["--epochs", "1", "--limit-batches", "2", "--batch-size", "4", "--no-progress", "--teacher",
              str(tmp_path)]
    assert main(common + ["--model", "real_to_binary_net", "--image-size", "32", "--attention-loss-weight", "10",
                          "--run-dir", str(tmp_path / "student")]) == 0
    record = json.loads((tmp_path / "student" / "log.jsonl").read_text().splitlines()[0])
    assert np.isfinite(record["train_loss"])
    with pytest.raises(ToolError, match="StemStagesNet .* not LeNet"):
        main(common + ["--model", "lenet", "--attention-loss-weight", "1", "--run-dir", str(tmp_path / "lenet")])
    assert not (tmp_path / "lenet").exists()  # refused after the folder was made: what it wrote is removed
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("kept")
    with pytest.raises(ToolError, match="not LeNet"):
        main(common + ["--model", "lenet", "--attention-loss-weight", "1", "--run-dir", str(tmp_path / "mine")])
    assert os.listdir(tmp_path / "mine") == ["notes.txt"]  # a folder that existed keeps what the run did not write
    with pytest.raises(UsageError, match="--attention-loss-weight .* --teacher"):
        main(["--attention-loss-weight", "1", "--run-dir", str(tmp_path / "alone")])
    assert not (tmp_path / "alone").exists()
