"""Deep dream: the objective rises, a seed reproduces the result, objectives and octaves work on any model."""
import numpy as np
import pytest

from tools.visualize import deep_dream, load_model, parse_objective, stage_layers

from .conftest import tiny_resnet


@pytest.mark.parametrize("hybridize", [False, True])
def test_class_objective_rises_and_a_seed_reproduces_it(square_finder, hybridize):
    model, _ = square_finder
    model.net.hybridize(active=hybridize)
    try:
        first = deep_dream(model, objective="class:1", steps=12, step_size=0.02, jitter=0, seed=7)
        again = deep_dream(model, objective="class:1", steps=12, step_size=0.02, jitter=0, seed=7)
        other = deep_dream(model, objective="class:1", steps=12, step_size=0.02, jitter=0, seed=8)
    finally:
        model.net.hybridize()
    assert len(first.objective) == 12
    assert np.all(np.diff(first.objective) > 0)  # every step of the ascent goes up
    assert first.objective[-1] > first.objective[0] + 1
    assert first.image.shape == (24, 24, 1) and 0 <= first.image.min() and first.image.max() <= 1
    np.testing.assert_array_equal(first.image, again.image)
    assert first.objective == again.objective
    assert not np.array_equal(first.image, other.image)


@pytest.mark.parametrize("hybridize", [False, True])
def test_binary_dream_reaches_the_input_through_the_ste_and_is_reproducible(hybridize):
    model = tiny_resnet(1, hybridize=hybridize)
    first = deep_dream(model, objective="class:4", steps=6, step_size=0.02, jitter=1, seed=7)
    again = deep_dream(model, objective="class:4", steps=6, step_size=0.02, jitter=1, seed=7)
    np.testing.assert_array_equal(first.image, again.image)
    assert first.objective == again.objective
    noise = np.random.default_rng(7).uniform(0.4, 0.6, (1, 16, 16)).transpose(1, 2, 0)  # the start image
    assert np.abs(first.image - noise).mean() > 0.03  # it moved: a non-zero gradient reached it
    assert len(set(first.objective)) > 1  # and the binary net's output changed with it


def test_layer_and_filter_objectives_with_jitter_and_octaves_rise(square_finder):
    model, _ = square_finder
    deepest = stage_layers(model.layers)[-1].name
    for text in (f"layer:{deepest}", f"filter:{deepest}:5", "filter:stage1_unit1_conv1:0"):
        dream = deep_dream(model, objective=text, steps=6, octaves=2, octave_scale=2, jitter=1, seed=1)
        assert len(dream.objective) == 12
        assert np.mean(dream.objective[-3:]) > np.mean(dream.objective[:3]), text
        again = deep_dream(model, objective=text, steps=6, octaves=2, octave_scale=2, jitter=1, seed=1)
        np.testing.assert_array_equal(dream.image, again.image)  # jitter draws from the seed too
        assert dream.image.shape == (24, 24, 1)


def test_dream_from_an_image_starts_there(rng):
    model = tiny_resnet(32)
    start = rng.uniform(0, 1, (16, 16, 1)).astype(np.float32)
    dream = deep_dream(model, objective="class:1", image=start, steps=1, step_size=1e-3, jitter=0)
    assert np.abs(dream.image - start).max() < 0.05


def test_bad_objectives_say_what_is_valid():
    model = tiny_resnet(1)
    with pytest.raises(ValueError, match="valid names"):
        parse_objective("layer:nope", model)
    with pytest.raises(ValueError, match=r"F in \[0, 16\)"):
        parse_objective("filter:relu1:16", model)
    with pytest.raises(ValueError, match="'class:K', 'layer:NAME' or 'filter:NAME:F'"):
        parse_objective("neuron:3", model)
    with pytest.raises(ValueError, match=r"class index in \[0, 10\)"):
        deep_dream(model, objective="class:12", steps=1)


def test_dream_on_bmxnet_v1_lenet_rises(v1_store):
    model = load_model("lenet:pretrained", root=v1_store)
    dream = deep_dream(model, objective="class:3", steps=8, octaves=2, jitter=1, seed=0)
    assert np.mean(dream.objective[-4:]) > np.mean(dream.objective[:4]) + 5  # measured: about -28 -> -6
    assert dream.image.shape == (28, 28, 1)
