"""Pooling and zero-padding layers: output shapes by Keras's formula, values against numpy, gradients through
them by finite differences, configs, saving, and the arguments and inputs they refuse."""
import math

import numpy as np
import pytest

import numbanet
from numbanet import layers
from numbanet.models import load_model
from tests.helpers import finite_difference_check


def keras_out(size, pool, stride, padding):
    return math.floor((size - pool) / stride) + 1 if padding == 'valid' else math.ceil(size / stride)


@pytest.mark.parametrize('pool,strides,padding', [(2, None, 'valid'), ((3, 3), 2, 'same'), ((2, 3), (1, 2), 'valid'),
                                                  (3, (2, 1), 'SAME'), ((1, 4), 3, 'Valid'), (5, 1, 'same')])
@pytest.mark.parametrize('cls', [layers.MaxPooling2D, layers.AveragePooling2D])
def test_2d_output_shapes_follow_keras(cls, pool, strides, padding):
    layer = cls(pool, strides, padding)
    p = (pool,) * 2 if isinstance(pool, int) else pool
    s = p if strides is None else (strides,) * 2 if isinstance(strides, int) else strides
    want = tuple(keras_out(n, p[i], s[i], padding.lower()) for i, n in enumerate((7, 9))) + (3,)
    assert layer(layers.Input(shape=(7, 9, 3))).shape == (None,) + want
    assert layer.compute_output_shape((7, 9, 3)) == want


@pytest.mark.parametrize('pool,strides,padding', [(2, None, 'valid'), (3, 2, 'same'), (4, 1, 'valid'),
                                                  ((3,), (4,), 'same')])
@pytest.mark.parametrize('cls', [layers.MaxPooling1D, layers.AveragePooling1D])
def test_1d_output_shapes_follow_keras(cls, pool, strides, padding):
    p = pool if isinstance(pool, int) else pool[0]
    s = p if strides is None else strides if isinstance(strides, int) else strides[0]
    assert cls(pool, strides, padding)(layers.Input(shape=(11, 4))).shape == (None, keras_out(11, p, s, padding), 4)


def test_global_and_padding_shapes():
    image, steps = layers.Input(shape=(7, 9, 3)), layers.Input(shape=(11, 4))
    for cls in (layers.GlobalMaxPooling2D, layers.GlobalAveragePooling2D):
        assert cls()(image).shape == (None, 3)
        assert cls(keepdims=True)(image).shape == (None, 1, 1, 3)
    for cls in (layers.GlobalMaxPooling1D, layers.GlobalAveragePooling1D):
        assert cls()(steps).shape == (None, 4)
        assert cls(keepdims=True)(steps).shape == (None, 1, 4)
    for padding, want in ((1, (9, 11, 3)), ((2, 0), (11, 9, 3)), (((0, 3), (1, 2)), (10, 12, 3)),
                          ((1, (0, 2)), (9, 11, 3))):
        assert layers.ZeroPadding2D(padding)(image).shape == (None,) + want


def pooled(x, pool, strides, padding, reduce):
    """Windows clipped to the input, as Keras's 'same' pooling sees them: reduce over each."""
    N, H, W, C = x.shape
    out_h, out_w = keras_out(H, pool[0], strides[0], padding), keras_out(W, pool[1], strides[1], padding)
    top = max((out_h - 1) * strides[0] + pool[0] - H, 0) // 2 if padding == 'same' else 0
    left = max((out_w - 1) * strides[1] + pool[1] - W, 0) // 2 if padding == 'same' else 0
    out = np.empty((N, out_h, out_w, C))
    for i in range(out_h):
        for j in range(out_w):
            h0, w0 = i * strides[0] - top, j * strides[1] - left
            out[:, i, j] = reduce(x[:, max(h0, 0):h0 + pool[0], max(w0, 0):w0 + pool[1]], axis=(1, 2))
    return out


@pytest.mark.parametrize('pool,strides,padding', [((2, 2), (2, 2), 'valid'), ((3, 3), (2, 2), 'same'),
                                                  ((3, 2), (1, 1), 'same'), ((2, 3), (3, 2), 'valid')])
def test_values_match_numpy(rng, pool, strides, padding):
    x = rng.standard_normal((4, 7, 9, 3)).astype(np.float32)
    for cls, reduce in ((layers.MaxPooling2D, np.max), (layers.AveragePooling2D, np.mean)):
        model = numbanet.Sequential([layers.Input(shape=(7, 9, 3)), cls(pool, strides, padding)])
        np.testing.assert_allclose(model.predict(x, verbose=0), pooled(x.astype(np.float64), pool, strides, padding,
                                                                       reduce), rtol=1e-6, atol=1e-6)
    steps = x[:, 0]  # (4, 9, 3)
    for cls, reduce in ((layers.MaxPooling1D, np.max), (layers.AveragePooling1D, np.mean)):
        got = cls(pool[1], strides[1], padding)(steps)
        want = pooled(steps[:, None].astype(np.float64), (1, pool[1]), (1, strides[1]), padding, reduce)[:, 0]
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_global_and_padding_values(rng):
    x = rng.standard_normal((4, 7, 9, 3)).astype(np.float32)
    np.testing.assert_array_equal(layers.GlobalMaxPooling2D()(x), x.max((1, 2)))
    np.testing.assert_allclose(layers.GlobalAveragePooling2D(keepdims=True)(x), x.mean((1, 2), keepdims=True),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(layers.GlobalMaxPooling1D(keepdims=True)(x[:, 0]), x[:, 0].max(1, keepdims=True))
    np.testing.assert_allclose(layers.GlobalAveragePooling1D()(x[:, 0]), x[:, 0].mean(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(layers.ZeroPadding2D(((2, 0), (1, 3)))(x),
                                  np.pad(x, ((0, 0), (2, 0), (1, 3), (0, 0))))


POOLING = [lambda: layers.MaxPooling2D(3, 2, 'same'), lambda: layers.MaxPooling2D(2, 1),  # overlapping windows
           lambda: layers.AveragePooling2D((2, 3), (1, 2)), lambda: layers.AveragePooling2D(3, 2, 'same'),
           lambda: layers.GlobalMaxPooling2D(), lambda: layers.GlobalAveragePooling2D(keepdims=True),
           lambda: layers.ZeroPadding2D(((1, 0), (2, 1))),
           lambda: layers.MaxPooling1D(3, 2, 'same'), lambda: layers.AveragePooling1D(2, 1),
           lambda: layers.GlobalMaxPooling1D(), lambda: layers.GlobalAveragePooling1D()]


@pytest.mark.parametrize('make', POOLING)
def test_gradient_through_the_layer_by_finite_differences(rng, make):
    # Dense -> Reshape puts trainable weights beneath the layer, so its backward is what they see. One-hot
    # inputs make the layer's input the Dense kernel itself (plus the bias); rows of values 0.02 apart keep
    # every max where it is under the check's steps of 0.002, and small enough for a precise loss.
    layer = make()
    shape = (5, 7, 3) if getattr(layer, 'rank', 2) == 2 else (9, 4)
    inputs = layers.Input(shape=(6,))
    first = layers.Dense(int(np.prod(shape)))
    model = numbanet.Model(inputs, layers.Dense(3)(layers.Flatten()(layer(layers.Reshape(shape)(first(inputs))))),
                           seed=5)
    size = int(np.prod(shape))
    first.set_weights([np.stack([rng.permutation(size) - size / 2 for _ in range(6)]) * 0.02, np.zeros(size)])
    x = np.eye(6, dtype=np.float32)
    finite_difference_check(model, x, rng.standard_normal((6, 3)).astype(np.float32), rng)


def test_the_first_layer_gets_no_input_gradient(rng):
    # Input -> MaxPooling2D -> Flatten -> Dense: nothing beneath the pooling trains, and fit still runs.
    inputs = layers.Input(shape=(7, 9, 3))
    model = numbanet.Model(inputs, layers.Dense(4)(layers.Flatten()(layers.MaxPooling2D()(inputs))), seed=1)
    x = rng.standard_normal((6, 7, 9, 3)).astype(np.float32)
    finite_difference_check(model, x, rng.standard_normal((6, 4)).astype(np.float32), rng)


@pytest.mark.parametrize('make', POOLING)
def test_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config and repr(again).startswith(f"<{type(layer).__name__} ")


def every_pooling_model(seed=0):
    inputs = layers.Input(shape=(8, 10, 3))
    a = layers.AveragePooling2D(2)(layers.MaxPooling2D(3, 2, 'same')(layers.ZeroPadding2D(1)(inputs)))
    steps = layers.Reshape((80, 3))(inputs)
    c = layers.AveragePooling1D(3, 2, 'same')(layers.MaxPooling1D(4)(steps))
    branches = [layers.GlobalMaxPooling2D()(a), layers.GlobalAveragePooling2D()(inputs),
                layers.GlobalAveragePooling1D()(c), layers.GlobalMaxPooling1D()(steps),
                layers.Flatten()(layers.GlobalMaxPooling2D(keepdims=True)(inputs))]
    return numbanet.Model(inputs, layers.Dense(2)(layers.Concatenate()(branches)), seed=seed)


def test_save_and_load_a_model_of_every_pooling_layer(tmp_path, rng):
    x = rng.standard_normal((5, 8, 10, 3)).astype(np.float32)
    for model in (every_pooling_model(), numbanet.Sequential([layers.MaxPooling2D(padding='same'),
                                                              layers.GlobalAveragePooling2D(), layers.Dense(2)])):
        model.compile(optimizer='adam', loss='mse')
        model.fit(x, rng.standard_normal((5, 2)).astype(np.float32), epochs=1, verbose=0)
        model.save(tmp_path / 'pool.safetensors')
        loaded = load_model(tmp_path / 'pool.safetensors')
        assert [type(l) for l in loaded.layers] == [type(l) for l in model.layers]
        assert [l.get_config() for l in loaded.layers] == [l.get_config() for l in model.layers]
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize('make,match', [
    (lambda: layers.MaxPooling2D(0), r'pool_size must be a positive int.*, got \(?0'),
    (lambda: layers.MaxPooling2D((2, 2, 2)), r'got \(2, 2, 2\)'),
    (lambda: layers.AveragePooling2D(2.5), 'got 2.5'),
    (lambda: layers.AveragePooling2D(True), 'got True'),
    (lambda: layers.MaxPooling2D(2, (1, -1)), r'strides must be a positive int.*, got \(1, -1\)'),
    (lambda: layers.MaxPooling1D((2, 2)), r'pool_size must be .*1 positive int.*, got \(2, 2\)'),
    (lambda: layers.MaxPooling2D(padding='full'), "padding must be .*'valid', 'same', got 'full'"),
    (lambda: layers.AveragePooling1D(padding=1), "got 1"),
    (lambda: layers.MaxPooling2D(data_format='channels_first'), "data_format='channels_first' is not supported"),
    (lambda: layers.GlobalAveragePooling2D(data_format='NCHW'), "data_format='NCHW' is not supported"),
    (lambda: layers.GlobalMaxPooling1D(keepdims='yes'), "keepdims must be True or False, got 'yes'"),
    (lambda: layers.ZeroPadding2D(-1), 'got -1'),
    (lambda: layers.ZeroPadding2D(((1, 2), (3,))), r'got \(\(1, 2\), \(3,\)\)'),
    (lambda: layers.ZeroPadding2D((1, 2, 3)), r'got \(1, 2, 3\)'),
    (lambda: layers.ZeroPadding2D('same'), "got 'same'"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_inputs_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match=r"layer 'small'.* spans 3 along height, more than the 2 inputs"):
        layers.MaxPooling2D(3, name='small')(layers.Input(shape=(2, 9, 3)))
    assert layers.MaxPooling2D(3, padding='same')(layers.Input(shape=(2, 9, 3))).shape == (None, 1, 3, 3)
    with pytest.raises(ValueError, match=r"needs inputs shaped \(batch, height, width, channels\), got \(None, 9, 3\)"):
        layers.AveragePooling2D()(layers.Input(shape=(9, 3)))
    with pytest.raises(ValueError, match=r"needs inputs shaped \(batch, steps, channels\), got \(None, 7, 9, 3\)"):
        layers.MaxPooling1D()(layers.Input(shape=(7, 9, 3)))
    with pytest.raises(ValueError, match='spans 5 along steps, more than the 4'):
        layers.AveragePooling1D(5)(layers.Input(shape=(4, 2)))
    with pytest.raises(ValueError, match=r'\(batch, steps, channels\)'):
        layers.GlobalAveragePooling1D()(layers.Input(shape=(7, 9, 3)))
    with pytest.raises(ValueError, match=r'\(batch, height, width, channels\)'):
        layers.GlobalMaxPooling2D()(layers.Input(shape=(12,)))
    with pytest.raises(ValueError, match=r'\(batch, height, width, channels\)'):
        layers.ZeroPadding2D()(layers.Input(shape=(9, 3)))
