"""What binary networks learn, seen through their inputs: ``bmxnet-visualize`` / ``python -m tools.visualize``.

The paper's Section 3.3 tools and two more lenses, as keyword-only functions:

- :func:`deep_dream` (:mod:`.dream`): gradient ascent on the input for a class, a layer or a filter;
- :func:`visual_backprop`, :func:`grad_cam`, :func:`saliency` (:mod:`.methods`): masks of the pixels that drive
  a prediction;
- :func:`compare`: several models side by side in one figure (:mod:`.figures`), one row per model.

Models come from :func:`load_model` (:mod:`.models`: zoo models, ``bmxnet-train`` run folders, BMXNet v1's
released weights, each with its input convention); feature maps are found in the traced graph
(:mod:`.graph`), so hybridized nets and exported ``SymbolBlock`` s work as well as plain Gluon blocks.
"""
from .dream import Dream, deep_dream, parse_objective
from .graph import LayerNameError, find_layers, layers_of, stage_layers
from .images import load_image
from .methods import METHODS, Explanation, grad_cam, saliency, visual_backprop
from .models import ModelNameError, VisualModel, load_model

__all__ = ["deep_dream", "visual_backprop", "grad_cam", "saliency", "compare", "load_model", "load_image",
           "layers_of", "stage_layers", "parse_objective", "VisualModel", "Explanation", "Dream", "METHODS",
           "LayerNameError", "ModelNameError"]


def compare(models, *, images, method="visual-backprop", path=None, title=None, progress=False, **options):
    """Explain every image with every model; rows ``[(label, model, [Explanation, ...]), ...]``.

    ``method``: a key of :data:`METHODS`; ``options`` go to it (``layers`` for VisualBackProp, ``layer`` and
    ``target`` for Grad-CAM, ``target`` for saliency). With ``path`` the figure is written there as PNG.
    """
    from tqdm import tqdm

    from .figures import explanation_figure

    if method not in METHODS:
        raise ValueError(f"Expected `method` to be one of {sorted(METHODS)}, got {method!r}.")
    explain = METHODS[method]
    for model in models:  # a bad layer name fails before any work
        find_layers(model.layers, options.get("layers") or ([options["layer"]] if options.get("layer") else []))
    rows = []
    with tqdm(total=len(models) * len(images), desc=method, disable=not progress, leave=False) as bar:
        for model in models:
            explanations = []
            for image in images:
                explanations.append(explain(model, image=image, **options))
                bar.update(1)
            rows.append((model.label, model, explanations))
    if path:
        explanation_figure(rows, path, title=title, method=method)
    return rows
