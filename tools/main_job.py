"""End-to-end example: train a small binary network on offline digits and report its accuracy.

Run with ``./run.sh main``. (Grows into the full train -> convert -> native run pipeline.)
"""
import argparse
import time

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from bmxnet_ext import QActivation, QConv2D, QDense, datasets


def binary_net():
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(32, 3, padding=1), gluon.nn.BatchNorm(), gluon.nn.Activation("relu"),
            gluon.nn.MaxPool2D(2), gluon.nn.BatchNorm(), QActivation(), QConv2D(64, 3, padding=1),
            gluon.nn.BatchNorm(), gluon.nn.MaxPool2D(2), gluon.nn.Flatten(), gluon.nn.BatchNorm(),
            QActivation(), QDense(128), gluon.nn.BatchNorm(), gluon.nn.Dense(10))
    return net


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default: 10)")
    args = parser.parse_args(argv)
    images, labels = datasets.load_sklearn_digits()
    perm = np.random.default_rng(0).permutation(len(images))
    train, test = perm[:1500], perm[1500:]
    mx.random.seed(0)
    net = binary_net()
    net.initialize(mx.init.Xavier())
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 1e-3})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    start = time.time()
    for epoch in range(args.epochs):
        for i in range(0, len(train), 50):
            idx = train[i:i + 50]
            with autograd.record():
                loss = loss_fn(net(mx.nd.array(images[idx])), mx.nd.array(labels[idx]))
            loss.backward()
            trainer.step(len(idx))
    pred = net(mx.nd.array(images[test])).argmax(axis=1).asnumpy()
    print(f"binary net, {args.epochs} epochs in {time.time() - start:.1f} s: "
          f"accuracy {np.mean(pred == labels[test]):.4f} on {len(test)} held-out digits")


if __name__ == "__main__":
    main()
