"""The training loop: deterministic epochs, evaluation, JSON-lines log, checkpoints and resume.

An epoch's data order comes from ``(seed, epoch)`` (:func:`tools.train.data.epoch_batches`) and MXNet's RNG
(dropout, random image transforms) is reseeded from ``(seed, epoch)`` at its start, so resuming from the
checkpoint of epoch ``e`` replays epoch ``e + 1`` exactly as an uninterrupted run would.
"""
import json
import logging
import math
import os
import sys
import time

import mxnet as mx
import numpy as np
from mxnet import autograd

from bmxnet_ext.atomic import write_text
from bmxnet_ext.cli import ToolError
from bmxnet_ext.flip_ratio import FlipRatio

from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .data import epoch_batches

__all__ = ["fit", "evaluate", "cross_entropy", "epoch_seed", "write_log", "LOG_NAME", "NonFiniteLossError"]

LOG_NAME = "log.jsonl"
logger = logging.getLogger("bmxnet-train")


def epoch_seed(seed, epoch):
    """MXNet RNG seed for ``epoch`` of a run seeded with ``seed`` (distinct per epoch, fits in 31 bits)."""
    return (int(seed) * 1_000_003 + int(epoch)) % (2 ** 31 - 1)


def cross_entropy(logits, labels, label_smoothing=0.0):
    r"""Per-sample cross entropy with label smoothing :math:`\varepsilon`, shape ``(B,)``.

    .. math:: \ell = -(1 - \varepsilon) \log p_y - \frac{\varepsilon}{K} \sum_k \log p_k
    """
    log_p = mx.nd.log_softmax(logits, axis=-1)
    nll = -mx.nd.pick(log_p, labels, axis=-1)
    if not label_smoothing:
        return nll
    return (1 - label_smoothing) * nll - label_smoothing * mx.nd.mean(log_p, axis=-1)


def _split(array, ctx):
    """``array`` split along axis 0 across ``ctx``, or across its first devices when it has fewer rows than
    there are devices (no device may get zero rows)."""
    return mx.gluon.utils.split_and_load(array, ctx[:min(len(ctx), array.shape[0])], even_split=False)


def _training_shards(data, labels, ctx):
    """``(xs, ys, active)``: one shard of the batch per device, the first ``active`` of them real.

    A batch smaller than the device count (a short last batch) gives each device it cannot fill a copy of the
    first sample, whose loss the caller weights by 0: every device then runs backward, so the trainer finds
    fresh gradients on all of them and the idle ones add zero.
    """
    xs = _split(mx.nd.array(data), ctx)
    ys = _split(mx.nd.array(labels, dtype="int32"), ctx)
    active = len(xs)
    for device in ctx[active:]:
        xs.append(xs[0][:1].as_in_context(device))
        ys.append(ys[0][:1].as_in_context(device))
    return xs, ys, active


def evaluate(net, split, *, batch_size, ctx, limit=None, progress=False):
    """``(mean loss, accuracy)`` of ``net`` on ``split`` (in order, no smoothing, no augmentation), on its first
    ``limit`` batches when given; ``progress`` shows a bar with the running accuracy on a terminal."""
    total_loss, correct, count = 0.0, 0, 0
    batches = epoch_batches(len(split), batch_size=batch_size, seed=0, epoch=0, shuffle=False, limit=limit)
    bar = _progress(len(batches), "eval", progress)
    with bar:
        for indices in batches:
            data, labels = split.batch(indices)
            for x, y in zip(_split(mx.nd.array(data), ctx), _split(mx.nd.array(labels, dtype="int32"), ctx)):
                logits = net(x)
                total_loss += float(cross_entropy(logits, y).sum().asscalar())
                correct += int((logits.argmax(axis=-1).astype("int32") == y).sum().asscalar())
                count += x.shape[0]
            bar.update(1)
            bar.set_postfix(loss=f"{total_loss / count:.4f}", acc=f"{correct / count:.4f}")
    return total_loss / count, correct / count


def write_log(run_dir, history):
    """Rewrite ``<run_dir>/log.jsonl`` (one JSON object per epoch) atomically from ``history``."""
    write_text(os.path.join(run_dir, LOG_NAME), "".join(json.dumps(h) + "\n" for h in history))


def _progress(total, description, enabled):
    """A tqdm bar on stderr when ``enabled`` and stderr is a terminal (else a silent one)."""
    from tqdm import tqdm
    return tqdm(total=total, desc=description, unit="batch", leave=False,
                disable=not (enabled and sys.stderr.isatty()))


class NonFiniteLossError(ToolError):
    """The training loss became NaN or infinite; training stopped before the step was applied."""


class _Running:
    """Sums of one epoch's training batches: loss, correct predictions, samples, time."""

    def __init__(self):
        self.loss, self.correct, self.seen, self.start = 0.0, 0, 0, time.time()

    def add(self, loss, correct, count):
        self.loss, self.correct, self.seen = self.loss + loss, self.correct + correct, self.seen + count

    @property
    def seconds(self):
        return max(time.time() - self.start, 1e-9)

    def summary(self):
        """``{"loss", "accuracy", "samples_per_second"}`` of the batches so far."""
        return {"loss": self.loss / self.seen, "accuracy": self.correct / self.seen,
                "samples_per_second": self.seen / self.seconds}


def _stop_on_non_finite(loss, *, epoch, batch, step, run_dir):
    """Raise :class:`NonFiniteLossError` naming the step and the newest checkpoint when ``loss`` is NaN / inf."""
    if math.isfinite(loss):
        return
    last = latest_checkpoint(run_dir)
    saved = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
    raise NonFiniteLossError(f"the training loss became {loss} at step {step} (epoch {epoch}, batch {batch}); "
                             f"training stopped before applying that step, {saved}. Lower --lr, or check the "
                             "data for NaN / inf values.")


def fit(*, net, trainer, train_split, eval_split, run_dir, epochs, batch_size, ctx, seed, label_smoothing=0.0,
        loss_fn=None, features=None, rank=0, num_workers=1, distributed=False, limit_batches=None, resume=False,
        progress=True, log_interval=0, tensorboard=None):
    """Train ``net`` with ``trainer`` for ``epochs`` epochs in total; returns the per-epoch history.

    Parameters
    ----------
    net : HybridBlock
        Initialised on ``ctx``.
    trainer : mxnet.gluon.Trainer
        Over ``net``'s parameters (with ``update_on_kvstore=False`` for distributed runs).
    train_split, eval_split : splits of :mod:`tools.train.data`
    run_dir : str
        Receives ``log.jsonl`` and ``checkpoints/``.
    ctx : list of Context
        Data-parallel devices; each batch is split across them.
    label_smoothing : float
        Of the default loss, :func:`cross_entropy`.
    loss_fn : callable, optional
        ``loss_fn(logits, labels, data) -> (B,)`` per-sample training loss, replacing the default (e.g. a
        distillation loss that runs a teacher on ``data``). Evaluation always reports :func:`cross_entropy`.
    features : HybridBlock, optional
        Sharing ``net``'s parameters, returning ``(logits, *inner outputs)`` (e.g.
        :func:`tools.train.stages.with_stage_outputs`): training runs it instead of ``net`` and calls
        ``loss_fn(logits, labels, data, inner outputs)``.
    rank, num_workers : int
        This worker's shard of the training data (distributed runs).
    distributed : bool
        The trainer updates on a distributed kvstore: the optimizer state lives on the servers, so checkpoints
        hold parameters only and a resumed run restarts the optimizer state (not bit-exact).
    limit_batches : int, optional
        Train and evaluate on at most this many batches per epoch (smoke tests).
    resume : bool
        Continue from the newest checkpoint in ``run_dir`` (a corrupt one raises ``CorruptCheckpointError``).
    progress : bool
        Progress bars (on a terminal only) with the running loss and accuracy, for training and evaluation.
    log_interval : int
        Log a line with the running loss, accuracy, learning rate, flip ratio of the 1-bit weights
        (:class:`bmxnet_ext.flip_ratio.FlipRatio`, mean over the epoch's steps) and samples/s every
        ``log_interval`` batches
        (0: only at the end of each epoch); written whether or not stderr is a terminal.
    tensorboard : tensorboardX.SummaryWriter, optional
        Receives the same values at every log line and every epoch's record, by global step.

    Each epoch ends with an evaluation, a log line and a checkpoint; an interruption loses at most the epoch
    in progress. A NaN or infinite loss raises :class:`NonFiniteLossError` before its step is applied.
    """
    if loss_fn is None:
        loss_fn = lambda logits, labels, data: cross_entropy(logits, labels, label_smoothing)  # noqa: E731
    history, first_epoch = [], 1
    if resume:
        path = latest_checkpoint(run_dir)
        if path is None:
            logger.warning("--resume: no checkpoint in %s, starting from scratch", run_dir)
        else:
            schedule = trainer.optimizer.lr_scheduler
            state = load_checkpoint(path, net=net, trainer=trainer, ctx=ctx)
            if distributed:
                logger.warning("distributed resume: parameters restored, optimizer state restarts")
            # The checkpoint's optimizer brings its own schedule; keep this run's (stateless, so identical when
            # the flags are, and following a new --epochs when training is extended).
            trainer.optimizer.lr_scheduler = schedule
            history, first_epoch = state["history"], state["epoch"] + 1
            logger.info("resumed from %s (epoch %d done)", path, state["epoch"])
    flips = FlipRatio(net.collect_params())  # signs recorded after a resume's checkpoint is loaded
    for epoch in range(first_epoch, epochs + 1):
        mx.random.seed(epoch_seed(seed, epoch), ctx="all")
        augment_rng = np.random.default_rng([seed, epoch, 1])
        batches = epoch_batches(len(train_split), batch_size=batch_size, seed=seed, epoch=epoch, rank=rank,
                                num_workers=num_workers, limit=limit_batches)
        if not batches:
            raise ValueError(f"Expected at least one training batch, got none: {len(train_split)} samples for "
                             f"{num_workers} worker(s), limit_batches={limit_batches}.")
        running = _Running()
        flips.reset()
        bar = _progress(len(batches), f"epoch {epoch}/{epochs}", progress)
        try:
            for batch, indices in enumerate(batches, start=1):
                step = (epoch - 1) * len(batches) + batch
                data, labels = train_split.batch(indices, augment_rng)
                xs, ys, active = _training_shards(data, labels, ctx)
                with autograd.record():
                    if features is None:
                        outputs = [net(x) for x in xs]
                        losses = [loss_fn(out, y, x) for out, y, x in zip(outputs, ys, xs)]
                    else:
                        results = [features(x) for x in xs]
                        outputs = [result[0] for result in results]
                        losses = [loss_fn(result[0], y, x, result[1:]) for result, y, x in zip(results, ys, xs)]
                    losses[active:] = [loss * 0 for loss in losses[active:]]  # idle devices of a short batch
                autograd.backward(losses)
                loss = sum(float(loss.sum().asscalar()) for loss in losses[:active])
                _stop_on_non_finite(loss, epoch=epoch, batch=batch, step=step, run_dir=run_dir)
                trainer.step(len(indices) * num_workers)
                flips.update()
                correct = sum(int((out.argmax(axis=-1).astype("int32") == y).sum().asscalar())
                              for out, y in zip(outputs[:active], ys[:active]))
                running.add(loss, correct, len(indices))
                now = dict(running.summary(), **_flip_ratio(flips))
                bar.update(1)
                bar.set_postfix(loss=f"{now['loss']:.4f}", acc=f"{now['accuracy']:.4f}",
                                samples_per_s=f"{now['samples_per_second']:.0f}")
                if log_interval and batch % log_interval == 0 and batch < len(batches):
                    values = dict(now, lr=trainer.learning_rate)
                    logger.info("epoch %d/%d batch %d/%d (step %d): %s", epoch, epochs, batch, len(batches), step,
                                _format(values))
                    _write_scalars(tensorboard, "train", values, step)
        except KeyboardInterrupt:
            logger.warning("interrupted during epoch %d; the checkpoint of epoch %d is intact, rerun with "
                           "--resume to continue", epoch, epoch - 1)
            raise
        finally:
            bar.close()
        done = dict(running.summary(), **_flip_ratio(flips))
        seconds = running.seconds
        eval_loss, eval_accuracy = evaluate(net, eval_split, batch_size=batch_size, ctx=ctx, limit=limit_batches,
                                            progress=progress)
        record = {"epoch": epoch, "train_loss": done["loss"], "train_accuracy": done["accuracy"],
                  "eval_loss": eval_loss, "eval_accuracy": eval_accuracy, "lr": trainer.learning_rate,
                  "epoch_seconds": seconds, "samples_per_second": done["samples_per_second"],
                  **_flip_ratio(flips)}
        history.append(record)
        flipped = f" | flip ratio {record['flip_ratio']:.4f}" if "flip_ratio" in record else ""
        logger.info("epoch %d/%d: train loss %.4f acc %.4f | eval loss %.4f acc %.4f | lr %.3g%s | %.1f s "
                    "(%.0f samples/s)", epoch, epochs, record["train_loss"], record["train_accuracy"],
                    eval_loss, eval_accuracy, record["lr"], flipped, seconds, record["samples_per_second"])
        step = epoch * len(batches)
        _write_scalars(tensorboard, "train", {"loss": done["loss"], "accuracy": done["accuracy"],
                                              "lr": record["lr"], **_flip_ratio(flips)}, step)
        _write_scalars(tensorboard, "eval", {"loss": eval_loss, "accuracy": eval_accuracy}, step)
        write_log(run_dir, history)
        save_checkpoint(run_dir, epoch=epoch, net=net, trainer=trainer, state={"history": history},
                        optimizer_state=not distributed)
    return history


def _flip_ratio(flips):
    """``{"flip_ratio": mean over the epoch's steps so far}``, or nothing for a net without 1-bit weights."""
    return {"flip_ratio": flips.get()[1]} if flips.params else {}


def _format(values):
    """``loss 0.4123 acc 0.8750 | lr 0.001 | flip ratio 0.0120 | 512 samples/s`` from running values."""
    flipped = f" | flip ratio {values['flip_ratio']:.4f}" if "flip_ratio" in values else ""
    return (f"loss {values['loss']:.4f} acc {values['accuracy']:.4f} | lr {values['lr']:.3g}{flipped} | "
            f"{values['samples_per_second']:.0f} samples/s")


def _write_scalars(writer, split, values, step):
    """``<split>/<name>`` scalars of ``values`` at ``step`` into a tensorboardX writer (if any)."""
    if writer is None:
        return
    for name, value in values.items():
        writer.add_scalar(f"{split}/{name}", value, step)
    writer.flush()
