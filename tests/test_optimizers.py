"""Bop on hand-made cases, CaseOptimizer routing through gluon.Trainer, constraints applied by the Trainer."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

from bmxnet_ext import QConv2D, QDense
from bmxnet_ext.optimizers import Bop, CaseOptimizer, Trainer, is_binary_weight


def test_bop_flips_exactly_the_weights_whose_momentum_is_strong_and_against_their_sign():
    """gamma = 0.5, tau = 0.3: m = 0.5 g after one step from m = 0. Flip iff |m| > 0.3 and m sign(w) > 0."""
    w = np.float32([1.0, 1.0, -1.0, -1.0, 0.5, -2.0, 1.0, -1.0])
    g = np.float32([0.8, -0.8, -0.8, 0.8, 0.6, -0.61, 0.6, -0.6])
    # m =           .4   -.4    -.4   .4   .3    -.305  .3   -.3
    expected = np.float32([-1.0, 1.0, 1.0, -1.0, 0.5, 2.0, 1.0, -1.0])
    opt = Bop(threshold=0.3, gamma=0.5)
    weight, state = mx.nd.array(w), opt.create_state(0, mx.nd.array(w))
    opt.update(0, weight, mx.nd.array(g), state)
    np.testing.assert_array_equal(weight.asnumpy(), expected)
    np.testing.assert_allclose(state.asnumpy(), 0.5 * g, rtol=1e-7)
    # second step, zero gradient: m halves to at most 0.2 < tau, nothing flips
    opt.update(0, weight, mx.nd.zeros(8), state)
    np.testing.assert_array_equal(weight.asnumpy(), expected)
    np.testing.assert_allclose(state.asnumpy(), 0.25 * g, rtol=1e-7)


def test_bop_accumulates_momentum_until_it_crosses_the_threshold():
    opt = Bop(threshold=0.25, gamma=0.5)
    weight = mx.nd.array([1.0])
    state = opt.create_state(0, weight)
    flips = []
    for _ in range(3):  # m = 0.15, 0.225, 0.2625
        opt.update(0, weight, mx.nd.array([0.3]), state)
        flips.append(float(weight.asscalar()))
    assert flips == [1.0, 1.0, -1.0]


@pytest.mark.parametrize("bad", [dict(threshold=-1.0), dict(gamma=0.0), dict(gamma=1.5)])
def test_bop_rejects_bad_hyperparameters(bad):
    with pytest.raises(ValueError, match=list(bad)[0]):
        Bop(**bad)


def _net(rng):
    net = gluon.nn.HybridSequential()
    net.add(QConv2D(4, 3, in_channels=2, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                    kernel_constraint="weight_clip"),
            gluon.nn.BatchNorm(in_channels=4), gluon.nn.Flatten(), QDense(3, in_units=4 * 4 * 4, bits=32,
                                                                          use_bias=True))
    net.initialize(mx.init.Uniform(1.0))
    return net


def _step(net, trainer, rng):
    x = mx.nd.array(rng.standard_normal((4, 2, 6, 6)))
    with autograd.record():
        loss = (net(x) ** 2).sum()
    loss.backward()
    trainer.step(4)


def test_gluon_trainer_accepts_bop_by_name(rng):
    net = _net(rng)
    conv = net[0]
    trainer = gluon.Trainer(conv.collect_params(), "bop", {"threshold": 0.0, "gamma": 1.0})
    before = conv.weight.data().asnumpy()
    x = mx.nd.array(rng.standard_normal((4, 2, 6, 6)))
    x.attach_grad()
    with autograd.record():
        y = conv(x)
    y.backward(mx.nd.ones_like(y))
    grad = conv.weight.grad().asnumpy() / 4
    trainer.step(4)
    flip = (grad * np.where(before >= 0, 1, -1) > 0)
    np.testing.assert_array_equal(conv.weight.data().asnumpy(), np.where(flip, -before, before))
    assert flip.any() and not flip.all()


def test_case_optimizer_routes_binary_weights_to_bop_and_the_rest_to_the_default(rng):
    net = _net(rng)
    params = net.collect_params()
    assert [name for name, p in params.items() if is_binary_weight(p)] == [net[0].weight.name]
    bop = Bop(threshold=1e-9, gamma=1.0)
    opt = CaseOptimizer((is_binary_weight, bop), default_optimizer=mx.optimizer.SGD(learning_rate=0.1))
    trainer = Trainer(params, opt)
    before = {name: p.data().asnumpy() for name, p in params.items()}
    _step(net, trainer, rng)
    for index, (name, p) in enumerate(sorted(params.items())):  # gluon.Trainer numbers them sorted
        routed = opt.optimizer_for(index)
        assert routed is (bop if is_binary_weight(p) else opt.default_optimizer)
        after = p.data().asnumpy()
        if routed is bop:  # Bop only ever flips signs: every magnitude is kept
            np.testing.assert_array_equal(np.abs(after), np.abs(before[name]))
            assert (after != before[name]).any()
        elif p.grad_req != "null":  # plain SGD: w - lr * grad
            np.testing.assert_allclose(after, before[name] - 0.1 * p.grad().asnumpy() / 4, rtol=1e-5, atol=1e-6)
    trainer.set_learning_rate(0.01)
    assert trainer.learning_rate == opt.default_optimizer.learning_rate == 0.01


def test_case_optimizer_by_name_with_string_optimizers(rng):
    net = _net(rng)
    trainer = gluon.Trainer(net.collect_params(), "caseoptimizer",
                            {"default_optimizer": "adam", "learning_rate": 0.1})
    _step(net, trainer, rng)
    with pytest.raises(ValueError, match="pair"):
        CaseOptimizer(is_binary_weight, default_optimizer="sgd")


def test_trainer_applies_weight_clip_after_each_step(rng):
    net = _net(rng)
    net[0].weight.set_data(net[0].weight.data() * 0.999)
    trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": 100.0})
    _step(net, trainer, rng)
    w = net[0].weight.data().asnumpy()
    assert np.abs(w).max() == 1.0 and (np.abs(w) == 1.0).sum() > w.size // 4
    assert np.abs(net[3].weight.data().asnumpy()).max() > 1.0  # no constraint there


def test_trainer_states_with_case_optimizer_save_and_load(tmp_path, rng):
    """Checkpoints keep Bop's momentum and the routing (the predicate is pickled by reference)."""
    net = _net(rng)
    opt = CaseOptimizer((is_binary_weight, Bop(threshold=1e-3, gamma=0.1)), default_optimizer="adam")
    trainer = Trainer(net.collect_params(), opt)
    _step(net, trainer, rng)
    path = str(tmp_path / "trainer.states")
    trainer.save_states(path)
    restored = Trainer(net.collect_params(), CaseOptimizer((is_binary_weight, Bop()), default_optimizer="sgd"))
    restored.load_states(path)
    index = sorted(net.collect_params()).index(net[0].weight.name)
    assert isinstance(restored._optimizer.optimizer_for(index), Bop)
    assert restored._optimizer.cases[0][1].gamma == 0.1
    np.testing.assert_array_equal(restored._updaters[0].states[index].asnumpy(),
                                  trainer._updaters[0].states[index].asnumpy())
    _step(net, restored, rng)
