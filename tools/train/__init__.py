"""Training tool for binary (and full-precision) zoo models: ``bmxnet-train`` / ``python -m tools.train``.

Modules, one job each:

- :mod:`.cli`: flags (``parse_args``) and ``main``.
- :mod:`.pipeline`: :func:`train`, one run as a keyword-only function (model, data, trainer, fit, export).
- :mod:`.fit`: the deterministic epoch loop with evaluation, log, checkpoints and resume.
- :mod:`.data`: datasets and the seeded, shardable batch order.
- :mod:`.optim`: RAdam, warm-up schedules, optimizers by name, no weight decay on binary latent weights.
- :mod:`.checkpoint`: atomic, checksummed checkpoints.
- :mod:`.artifacts`: export for the model converter and the learning-curve plot.
- :mod:`.parameter_server`: scheduler and server nodes for ``--kvstore dist_sync``.

``train`` and ``build_model`` are imported on first use: importing this package must not import MXNet,
so that ``python -m tools.train`` can start a parameter-server node before MXNet is imported.
"""
__all__ = ["train", "build_model"]


def __getattr__(name):
    if name in __all__:
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
