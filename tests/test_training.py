"""A tiny binary network learns real digits (MNIST test split, first digits train, last ones evaluate)."""
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from bmxnet_ext import QActivation, QConv2D, QDense, datasets


def tiny_binary_net():
    """Full-precision first and last layers, binary layers in between (paper Section 4.1)."""
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(32, 3, padding=1), gluon.nn.BatchNorm(), gluon.nn.Activation("relu"),
            gluon.nn.MaxPool2D(2),
            gluon.nn.BatchNorm(), QActivation(), QConv2D(64, 3, padding=1), gluon.nn.BatchNorm(),
            gluon.nn.MaxPool2D(2),
            gluon.nn.Flatten(), gluon.nn.BatchNorm(), QActivation(), QDense(128), gluon.nn.BatchNorm(),
            gluon.nn.Dense(10))
    return net


def accuracy(net, images, labels, batch=500):
    correct = 0
    for i in range(0, len(images), batch):
        pred = net(mx.nd.array(images[i:i + batch])).argmax(axis=1).asnumpy()
        correct += int((pred == labels[i:i + batch]).sum())
    return correct / len(images)


def test_tiny_binary_network_trains_on_real_mnist(mnist_dir):
    (train_x, train_y), (eval_x, eval_y) = datasets.mnist_split(mnist_dir, train_count=8000)
    train_x, train_y = train_x[:4000], train_y[:4000]
    mx.random.seed(0)
    np.random.seed(0)
    net = tiny_binary_net()
    net.initialize(mx.init.Xavier())
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 1e-3})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    chance = accuracy(net, eval_x, eval_y)

    epoch_losses = []
    order = np.random.default_rng(0)
    for _ in range(4):
        perm = order.permutation(len(train_x))
        losses = []
        for i in range(0, len(perm), 100):
            idx = perm[i:i + 100]
            x, y = mx.nd.array(train_x[idx]), mx.nd.array(train_y[idx])
            with autograd.record():
                loss = loss_fn(net(x), y)
            loss.backward()
            trainer.step(len(idx))
            losses.append(loss.mean().asscalar())
        epoch_losses.append(float(np.mean(losses)))

    acc = accuracy(net, eval_x, eval_y)
    assert epoch_losses[-1] < 0.5 * epoch_losses[0], epoch_losses
    print(f"chance {chance:.3f} -> trained {acc:.3f}, epoch losses {epoch_losses}")
    assert acc > 0.85, (chance, acc)
    assert acc > chance + 0.5
