"""Bop on hand-made cases, CaseOptimizer routing through gluon.Trainer (and through the pickling to a parameter
server), constraints applied by the Trainer or by the kvstore's optimizer."""
import pickle

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

from bmxnet_ext import QConv2D, QDense
from bmxnet_ext.constraints import WeightClip
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


def _bop_and_sgd():
    return CaseOptimizer((is_binary_weight, Bop(threshold=0.0, gamma=1.0)),
                         default_optimizer=mx.optimizer.SGD(learning_rate=0.1, wd=0.1))


@pytest.mark.parametrize("optimizer", ["bop_and_sgd", "sgd"])
def test_a_parameter_server_updates_and_constrains_every_index_as_the_worker_would(rng, optimizer):
    """A ``dist_sync`` server unpickles the optimizer (MXNet pickles it with protocol 0, dropping
    ``param_dict``) and updates each integer key. It must route the binary weight to Bop, keep the float
    weight's ``wd_mult = 0`` and apply ``weight_clip`` to its own copy: exactly the worker-side updates."""
    net = _net(rng)
    conv, dense = net[0], net[3]
    conv.weight.set_data(conv.weight.data() * 1.5)  # latent weights up to 1.5: weight_clip has work to do
    dense.weight.wd_mult = 0.0
    opt = _bop_and_sgd() if optimizer == "bop_and_sgd" else "sgd"
    params = net.collect_params()
    trainer = Trainer(params, opt, {"learning_rate": 0.1, "wd": 0.1} if optimizer == "sgd" else None,
                      kvstore="dist_sync")  # the kvstore is created lazily: nothing connects here
    assert isinstance(trainer.optimizer, CaseOptimizer)
    server = mx.optimizer.get_updater(pickle.loads(pickle.dumps(trainer.optimizer, 0)))
    x = mx.nd.array(rng.standard_normal((4, 2, 6, 6)))
    with autograd.record():
        loss = (net(x) ** 2).sum()
    loss.backward()
    names = sorted(params)  # gluon.Trainer numbers the parameters sorted by name
    updated = 0
    for index, name in enumerate(names):
        param = params[name]
        if param.grad_req == "null":
            continue
        before, grad = param.data().asnumpy(), param.grad().asnumpy()
        on_server, on_worker = param.data().copy(), param.data().copy()
        server(index, param.grad(), on_server)
        trainer._updaters[0](index, param.grad(), on_worker)
        np.testing.assert_array_equal(on_server.asnumpy(), on_worker.asnumpy(), err_msg=name)
        after = on_server.asnumpy()
        if param is conv.weight:
            assert np.abs(before).max() > 1 and np.abs(after).max() == 1.0  # clipped on the server's copy
            if optimizer == "bop_and_sgd":  # Bop flips signs only, then the clip
                np.testing.assert_array_equal(np.abs(after), np.minimum(np.abs(before), 1.0))
                assert (np.sign(after) != np.sign(before)).any()
        elif param is dense.weight:  # wd_mult = 0: plain SGD, w - lr * g
            np.testing.assert_allclose(after, before - 0.1 * grad, rtol=1e-5, atol=1e-6)
        updated += 1
    assert updated == 5  # conv weight, BatchNorm gamma and beta, dense weight and bias


def test_weight_clip_holds_on_the_copy_a_local_kvstore_updates(rng):
    """Two devices with ``update_on_kvstore``: the kvstore updates its own copy and the devices pull it. A clip
    applied to the devices' copies only would let the stored weight run away: 0.5 + 2 = 2.5, then 2.0 after
    the second step (pulled and clipped to 1.0) instead of clip(2.5) - 0.5 = 0.5."""
    ctx = [mx.cpu(0), mx.cpu(1)]
    dense = gluon.nn.Dense(1, in_units=1, use_bias=False)
    dense.initialize(mx.init.Constant(0.5), ctx=ctx)
    dense.weight.constraint = WeightClip(1.0)
    trainer = Trainer(dense.collect_params(), "sgd", {"learning_rate": 1.0}, kvstore="local",
                      update_on_kvstore=True)
    for x, expected in [(-2.0, 1.0), (0.5, 0.5)]:  # dL/dw = x per device, summed and divided by 2
        with autograd.record():
            losses = [dense(mx.nd.array([[x]], ctx=c)).sum() for c in ctx]
        autograd.backward(losses)
        trainer.step(2)
        assert trainer._update_on_kvstore
        assert [float(w.asscalar()) for w in dense.weight.list_data()] == [expected, expected]
