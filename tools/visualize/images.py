"""Images to explain, by name: image files, scikit-learn's two sample photographs, its handwritten digits.

``load_image(spec)`` returns ``(H, W, C)`` float32 in [0, 1] (RGB or one grey channel):

- a path to an image file OpenCV reads (PNG, JPEG, ...);
- ``sklearn:china.jpg`` / ``sklearn:flower.jpg``: the photographs of ``sklearn.datasets.load_sample_images``
  (427 x 640, RGB), which ship with scikit-learn and so need no network;
- ``digits:N``: digit ``N`` of scikit-learn's 1,797 handwritten digits, upscaled to 28 x 28 like the
  ``digits`` dataset of ``bmxnet-train`` (:func:`bmxnet_ext.datasets.load_sklearn_digits`).
"""
import os

import cv2
import numpy as np

__all__ = ["load_image", "SAMPLE_PHOTOS"]

SAMPLE_PHOTOS = ("china.jpg", "flower.jpg")


def load_image(spec):
    """The image named by ``spec`` (see the module docstring); errors name what is accepted."""
    kind, _, name = spec.partition(":")
    if kind == "sklearn" and name in SAMPLE_PHOTOS:
        from sklearn.datasets import load_sample_images

        photos = load_sample_images()
        index = [os.path.basename(f) for f in photos.filenames].index(name)
        return photos.images[index].astype(np.float32) / 255.0
    if kind == "digits" and name.isdigit():
        from bmxnet_ext.datasets import load_sklearn_digits

        images, _ = load_sklearn_digits()
        if int(name) >= len(images):
            raise ValueError(f"Expected digits:N with N in [0, {len(images)}), got {spec!r}.")
        return images[int(name)].transpose(1, 2, 0)
    if not os.path.isfile(spec):
        raise FileNotFoundError(f"No image file {spec!r}; expected a file path, "
                                f"{', '.join('sklearn:' + p for p in SAMPLE_PHOTOS)} or digits:N.")
    image = cv2.imread(spec, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{spec!r} is not an image file OpenCV can read.")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
