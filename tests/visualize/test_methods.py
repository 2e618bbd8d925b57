"""VisualBackProp, Grad-CAM and saliency: mask shape and range, what each computes, binary / float / v1 models."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from tools.visualize import grad_cam, load_model, saliency, stage_layers, visual_backprop
from tools.visualize.graph import Probe

from .conftest import SQUARE_SIDE, SQUARE_SIZE, TINY_SHAPE, tiny_resnet

METHODS = {"visual-backprop": visual_backprop, "grad-cam": grad_cam, "saliency": saliency}


def _image(rng, shape=(16, 16, 1)):
    return rng.uniform(0, 1, shape).astype(np.float32)


@pytest.mark.parametrize("bits", [1, 32])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_masks_have_the_input_shape_and_range_and_ignore_hybridization(rng, bits, method):
    image = _image(rng)
    masks = []
    for hybridize in (False, True):
        model = tiny_resnet(bits, hybridize=hybridize)
        ex = METHODS[method](model, image=image)
        assert ex.mask.shape == TINY_SHAPE[1:]
        assert ex.mask.dtype == np.float32
        assert ex.mask.min() >= 0 and ex.mask.max() <= 1
        logits = model.net(model.normalize(model.batch([ex.image]))).asnumpy()[0]
        assert ex.predicted == int(logits.argmax())
        masks.append(ex.mask)
    np.testing.assert_allclose(masks[0], masks[1], atol=1e-6)


def test_visual_backprop_is_the_product_of_upscaled_stage_averages(rng):
    model = tiny_resnet(32)
    image = _image(rng)
    stages = stage_layers(model.layers)
    assert [layer.shape[2] for layer in stages] == [16, 8]  # one per resolution, shallow to deep
    _, maps, _ = Probe(model.net, stages).forward(model.normalize(model.batch([image])))
    shallow, deep = (m[0].asnumpy().mean(axis=0) for m in maps)
    norm = [(a - a.min()) / (a.max() - a.min()) for a in (shallow, deep)]
    # bilinear 8 -> 16 upscaling with half-pixel centres, as OpenCV does it
    src = (np.arange(16) + 0.5) / 2 - 0.5
    lo = np.clip(np.floor(src).astype(int), 0, 7)
    hi = np.clip(lo + 1, 0, 7)
    frac = np.clip(src - np.floor(src), 0, 1) * (src >= 0) * (src <= 7)
    rows = norm[1][lo] * (1 - frac)[:, None] + norm[1][hi] * frac[:, None]
    up = rows[:, lo] * (1 - frac)[None, :] + rows[:, hi] * frac[None, :]
    expected = up * norm[0]
    expected = (expected - expected.min()) / (expected.max() - expected.min())
    np.testing.assert_allclose(visual_backprop(model, image=image).mask, expected, atol=1e-5)


def test_visual_backprop_finds_a_bright_square_a_small_net_was_trained_to_detect(square_finder):
    model, accuracy = square_finder
    assert accuracy >= 0.9
    assert len(stage_layers(model.layers)) == 3  # 24, 12, 6: VisualBackProp narrows down over three stages
    hits = 0
    for k in range(8):
        rng = np.random.default_rng(100 + k)
        y0, x0 = rng.integers(0, SQUARE_SIZE - SQUARE_SIDE + 1, 2)
        image = rng.uniform(0, 0.4, (SQUARE_SIZE, SQUARE_SIZE, 1)).astype(np.float32)
        image[y0:y0 + SQUARE_SIDE, x0:x0 + SQUARE_SIDE] = 1.0
        mask = visual_backprop(model, image=image).mask
        assert mask.shape == (SQUARE_SIZE, SQUARE_SIZE) and mask.min() >= 0 and mask.max() == pytest.approx(1.0)
        inside = np.zeros_like(mask, dtype=bool)
        inside[y0:y0 + SQUARE_SIDE, x0:x0 + SQUARE_SIDE] = True
        assert mask[inside].mean() > 3 * mask[~inside].mean()
        hits += bool(inside.flat[mask.argmax()])
    assert hits >= 7  # the peak lies inside the square (measured: 7 of these 8; once just at its edge)


def test_grad_cam_weights_are_the_classifier_row_over_the_pooled_area(rng):
    # the deepest stage of the zoo's ResNet is the head's ReLU, followed by global average pooling and the FC
    # layer, so dy_t / dA_c = W_fc[t, c] / (H W): the gradient reaches the probed map exactly.
    model = tiny_resnet(1)
    stage = stage_layers(model.layers)[-1]
    assert stage.name == "relu1"
    probe = Probe(model.net, [stage], differentiable=True)
    with autograd.record(train_mode=False):
        logits, (features,), (zero,) = probe.forward(model.normalize(model.batch([_image(rng)])))
        logits[0, 3].backward()
    fc = next(p for name, p in model.net.collect_params().items() if name.endswith("fc1_weight")).data().asnumpy()
    area = stage.shape[2] * stage.shape[3]
    np.testing.assert_allclose(zero.grad.asnumpy()[0], np.broadcast_to(fc[3][:, None, None] / area,
                                                                        stage.shape[1:]), rtol=1e-5, atol=1e-7)
    plain = model.net(model.normalize(model.batch([_image(np.random.default_rng(0))])))
    probed, _, _ = probe.forward(model.normalize(model.batch([_image(np.random.default_rng(0))])))
    np.testing.assert_array_equal(plain.asnumpy(), probed.asnumpy())  # the added zero input changes nothing


def test_saliency_is_the_absolute_input_gradient_by_finite_differences(square_finder):
    model, _ = square_finder
    image = np.random.default_rng(2).uniform(0, 0.4, (SQUARE_SIZE, SQUARE_SIZE, 1))
    image[5:11, 12:18] = 1.0
    ex = saliency(model, image=image, target=1)
    assert ex.target == 1
    # central differences at every pixel, one batch of 2 * 576 images (the net is piecewise linear: ReLU)
    steps = np.eye(SQUARE_SIZE * SQUARE_SIZE).reshape(-1, SQUARE_SIZE, SQUARE_SIZE, 1) * 1e-3
    batch = np.concatenate([image + steps, image - steps]).astype(np.float32)
    logits = model.net(model.normalize(mx.nd.array(batch.transpose(0, 3, 1, 2)))).asnumpy()[:, 1]
    gradient = np.abs(logits[:len(steps)] - logits[len(steps):]).reshape(SQUARE_SIZE, SQUARE_SIZE) / 2e-3
    expected = (gradient - gradient.min()) / (gradient.max() - gradient.min())
    np.testing.assert_allclose(ex.mask, expected, atol=0.02)


def test_binary_gradient_passes_the_straight_through_estimator(rng):
    model = tiny_resnet(1)
    ex = saliency(model, image=_image(rng))
    assert ex.mask.max() == 1.0  # not all zero: the sign's STE lets the gradient through


def test_bad_target_and_layer_names_are_one_clear_error(rng):
    model = tiny_resnet(1)
    with pytest.raises(ValueError, match=r"class in \[0, 10\)"):
        grad_cam(model, image=_image(rng), target=10)
    with pytest.raises(ValueError, match="valid names .*stage1_unit1_conv1.*relu1"):
        visual_backprop(model, image=_image(rng), layers=["stage9"])


@pytest.mark.parametrize("method", sorted(METHODS))
def test_methods_run_on_bmxnet_v1_lenet(v1_store, method):
    model = load_model("lenet:pretrained", root=v1_store)
    from bmxnet_ext.datasets import load_sklearn_digits

    images, labels = load_sklearn_digits()
    ex = METHODS[method](model, image=images[0].transpose(1, 2, 0))
    assert ex.mask.shape == (28, 28) and 0 <= ex.mask.min() and ex.mask.max() <= 1
    assert ex.predicted == labels[0]  # the released LeNet reads the digit


def test_visual_backprop_on_bmxnet_v1_imagenet_resnet18(v1_store):
    model = load_model("resnet18:pretrained", root=v1_store)
    assert model.pixel_scale == 255.0 and model.input_shape == (3, 224, 224)
    assert [layer.shape[2] for layer in stage_layers(model.layers)] == [112, 56, 28, 14, 7]
    from tools.visualize import load_image

    ex = visual_backprop(model, image=load_image("sklearn:china.jpg"))
    assert ex.mask.shape == (224, 224) and ex.mask.max() == pytest.approx(1.0)
    assert model.class_name(ex.predicted) == "boathouse"  # the Summer Palace photo, by the lake
