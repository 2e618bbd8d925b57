"""RAdam against a NumPy reference, the learning-rate schedules' values, no weight decay on binary weights."""
import math

import mxnet as mx
import numpy as np
import pytest

from model_zoo import get_model
from tools.train.optim import RAdam, WarmupSchedule, disable_binary_weight_decay, make_optimizer


def _radam_reference(w, grads, lr, beta1, beta2, eps, wd):
    """Rectified Adam written from the paper's Algorithm 2, in float64."""
    m, v = np.zeros_like(w), np.zeros_like(w)
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    for t, g in enumerate(grads, start=1):
        g = g + wd * w
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1 ** t)
        rho = rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t)
        if rho > 4:
            r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            w = w - lr * r * m_hat / (np.sqrt(v / (1 - beta2 ** t)) + eps)
        else:
            w = w - lr * m_hat
    return w


@pytest.mark.parametrize("beta2", [0.999, 0.9])
def test_radam_matches_numpy_reference(rng, beta2):
    """Gluon's Trainer passes the batch-size normalisation as ``rescale_grad``: it must scale the gradient."""
    w0 = rng.standard_normal((4, 5))
    grads = [rng.standard_normal((4, 5)) for _ in range(12)]  # beta2=0.999: rho_t <= 4 until t = 5, then > 4
    opt = RAdam(learning_rate=0.01, beta2=beta2, wd=0.01, rescale_grad=0.25)
    weight = mx.nd.array(w0)
    state = opt.create_state(0, weight)
    for g in grads:
        opt.update(0, weight, mx.nd.array(g), state)
    expected = _radam_reference(w0, [0.25 * g for g in grads], 0.01, 0.9, beta2, 1e-8, 0.01)
    np.testing.assert_allclose(weight.asnumpy(), expected, rtol=2e-5, atol=1e-6)


def test_radam_is_registered_and_trains_through_gluon():
    net = mx.gluon.nn.Dense(1, in_units=2)
    net.initialize(mx.init.Zero())
    trainer = mx.gluon.Trainer(net.collect_params(), "radam", {"learning_rate": 0.05})
    x, y = mx.nd.array([[1.0, 2.0]]), mx.nd.array([[3.0]])
    losses = []
    for _ in range(60):
        with mx.autograd.record():
            loss = ((net(x) - y) ** 2).sum()
        loss.backward()
        trainer.step(1)
        losses.append(float(loss.asscalar()))
    assert losses[-1] < 0.1 * losses[0]


def test_warmup_is_linear_then_cosine_reaches_final_lr():
    s = WarmupSchedule("cosine", 0.1, total_steps=110, warmup_steps=10, final_lr=0.001)
    assert [s(t) for t in (1, 5, 10)] == pytest.approx([0.01, 0.05, 0.1])
    assert s(11) == pytest.approx(0.1)                      # first update after warm-up: base lr
    assert s(61) == pytest.approx(0.001 + 0.099 * 0.5)      # half-way: cos(pi / 2) = 0
    assert s(111) == pytest.approx(0.001)
    assert s(500) == pytest.approx(0.001)                   # past the end it stays at final_lr


def test_poly_and_step_schedules():
    poly = WarmupSchedule("poly", 1.0, total_steps=100, power=2.0)
    assert [poly(t) for t in (0, 1, 51, 76, 101)] == pytest.approx([1.0, 1.0, 0.25, 0.0625, 0.0])
    step = WarmupSchedule("step", 1.0, total_steps=100, warmup_steps=4, milestones=[30, 60], factor=0.1)
    assert [step(t) for t in (2, 4, 30, 31, 60, 61, 100)] == pytest.approx([0.5, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01])
    assert step(31) == step(31)  # stateless: asking again gives the same value


def test_schedule_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Expected `kind` to be one of"):
        WarmupSchedule("linear", 0.1, total_steps=10)
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupSchedule("cosine", 0.1, total_steps=10, warmup_steps=10)
    with pytest.raises(ValueError, match="Expected `optimizer` to be one of"):
        make_optimizer("lamb", learning_rate=0.1, weight_decay=0.0, schedule=None)


def test_nesterov_sgd_is_mxnet_nag():
    assert isinstance(make_optimizer("sgd", learning_rate=0.1, weight_decay=0, schedule=None, nesterov=True),
                      mx.optimizer.NAG)


@pytest.mark.parametrize("bits, expect_binary_frozen", [(1, True), (32, False)])
def test_weight_decay_skips_binary_latent_weights(bits, expect_binary_frozen):
    net = get_model("lenet", bits=bits, bits_a=bits)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 1, 28, 28)))
    changed = disable_binary_weight_decay(net)
    quantized = {net.features[5].weight.name, net.features[10].weight.name}  # the QConv2D and QDense weights
    assert set(changed) == (quantized if expect_binary_frozen else set())
    # One SGD step on zero gradients with weight decay 0.5 and lr 1: decayed weights halve, the others stay.
    before = {name: p.data().copy() for name, p in net.collect_params().items()}
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 1.0, "wd": 0.5})
    with mx.autograd.record():
        loss = 0 * net(mx.nd.ones((2, 1, 28, 28))).sum()
    loss.backward()
    trainer.step(1)
    for name in quantized:
        moved = not np.array_equal(before[name].asnumpy(), net.collect_params()[name].data().asnumpy())
        assert moved == (not expect_binary_frozen), name
    fp_weight = net.output.weight
    np.testing.assert_allclose(fp_weight.data().asnumpy(), 0.5 * before[fp_weight.name].asnumpy(), rtol=1e-6)


@pytest.mark.parametrize("decay_binary_weights", [False, True])
def test_make_trainer_converts_epochs_to_updates_and_sets_weight_decay(decay_binary_weights):
    """Milestones and warm-up are given in epochs and scheduled in updates; binary latent weights get
    ``wd_mult = 0`` unless asked otherwise, every other parameter keeps 1."""
    from tools.train.pipeline import make_trainer

    net = get_model("lenet", bits=1, bits_a=1)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 1, 28, 28)))
    trainer = make_trainer(net, optimizer="sgd", lr=0.1, weight_decay=1e-4, lr_schedule="step", epochs=4,
                           steps_per_epoch=10, warmup_epochs=0.5, lr_steps=(1, 2.5),
                           decay_binary_weights=decay_binary_weights)
    schedule = trainer.optimizer.lr_scheduler
    assert list(schedule.milestones) == [10, 25] and schedule.warmup_steps == 5 and schedule.total_steps == 40
    quantized = {net.features[5].weight.name, net.features[10].weight.name}  # the QConv2D and QDense weights
    for name, param in net.collect_params().items():
        expected = 1.0 if decay_binary_weights or name not in quantized else 0.0
        assert param.wd_mult == expected, name
