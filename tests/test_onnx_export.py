"""ONNX export: onnxruntime runs the exported graph and agrees with predict()."""
import numpy as np
import pytest

import numbanet
from numbanet import layers
from tests.helpers import every_layer_model, mlp, residual


@pytest.mark.parametrize('build', [residual, lambda: mlp(functional=True)])
def test_onnx_export_matches_predict(tmp_path, rng, build):
    onnx = pytest.importorskip('onnx')
    ort = pytest.importorskip('onnxruntime')
    model = build()
    path = tmp_path / 'm.onnx'
    model.export(path, format='onnx')
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version >= 17
    assert any(node.op_type == 'Softmax' for node in proto.graph.node)
    x = rng.standard_normal((33, model.graph.inputs[0].shape[1])).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-5, rtol=0)


def test_onnx_export_with_two_inputs(tmp_path, rng):
    pytest.importorskip('onnx')
    ort = pytest.importorskip('onnxruntime')
    i1, i2 = layers.Input(shape=(4,), name='first'), layers.Input(shape=(3,), name='second')
    out = layers.Dense(2)(layers.Concatenate()([layers.ReLU()(layers.Dense(5)(i1)), i2]))
    model = numbanet.Model([i1, i2], out, seed=0)
    model.export(tmp_path / 'two.onnx')
    x1, x2 = rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((6, 3)).astype(np.float32)
    session = ort.InferenceSession(str(tmp_path / 'two.onnx'), providers=['CPUExecutionProvider'])
    assert [i.name for i in session.get_inputs()] == ['first', 'second']
    got = session.run(None, {'first': x1, 'second': x2})[0]
    np.testing.assert_allclose(got, model.predict([x1, x2], verbose=0), atol=1e-5, rtol=0)


def test_onnx_export_of_every_layer_and_activation(tmp_path, rng):
    pytest.importorskip('onnx')
    ort = pytest.importorskip('onnxruntime')
    model = every_layer_model()
    x = rng.standard_normal((20, 4, 6)).astype(np.float32)
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')
    model.fit(x, rng.integers(0, 3, 20), epochs=2, verbose=0)
    model.export(tmp_path / 'all.onnx')
    session = ort.InferenceSession(str(tmp_path / 'all.onnx'), providers=['CPUExecutionProvider'])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=2e-5, rtol=1e-4)


# ---- convolutions and pools: ONNX computes them channels-first, numbanet channels-last --------------------------
def _onnx_run(model, x, tmp_path):
    """(onnxruntime's output for x, the ONNX op types) of the model exported to a file."""
    onnx = pytest.importorskip('onnx')
    ort = pytest.importorskip('onnxruntime')
    model.export(tmp_path / 'm.onnx')
    session = ort.InferenceSession(str(tmp_path / 'm.onnx'), providers=['CPUExecutionProvider'])
    ops = [node.op_type for node in onnx.load(str(tmp_path / 'm.onnx')).graph.node]
    return session.run(None, {session.get_inputs()[0].name: x})[0], ops


def _trained(shape, stack, rng):
    """Input(shape), the layers stack() makes, and a Flatten where the output is not yet (batch, features):
    trained two epochs towards random targets, so no weight (bias, moving statistic) keeps its initial value.
    (model, x)."""
    inputs = layers.Input(shape=shape)
    x = inputs
    for layer in stack():
        x = layer(x)
    model = numbanet.Model(inputs, layers.Flatten()(x) if len(x.shape) > 2 else x, seed=3)
    x = rng.standard_normal((13,) + shape).astype(np.float32)
    model.compile(optimizer=numbanet.optimizers.Adam(0.01), loss='mse')
    model.fit(x, rng.standard_normal((13, model.graph.output.shape[1])).astype(np.float32), batch_size=5, epochs=2,
              verbose=0)
    return model, x


# (input shape, layers, an op the export must hold). Odd sizes, so 'same' pads one side more than the other.
CHANNELS_FIRST_CASES = {
    'conv_stride2_same': ((7, 9, 3), lambda: [layers.Conv2D(4, 3, strides=2, padding='same', activation='relu')],
                          'Conv'),
    'conv_even_kernel_same': ((7, 9, 3), lambda: [layers.Conv2D(4, (2, 4), padding='same', use_bias=False)], 'Conv'),
    'conv_dilated': ((7, 9, 3), lambda: [layers.Conv2D(4, 3, dilation_rate=2, padding='same', activation='tanh'),
                                         layers.Conv2D(2, (3, 2), strides=(2, 1))], 'Conv'),
    'conv_batchnorm_softmax': ((7, 9, 3), lambda: [layers.Conv2D(5, 3, activation='softmax'),
                                                   layers.BatchNormalization(), layers.ReLU(), layers.Dropout(0.2),
                                                   layers.Activation('softmax')], 'Softmax'),
    'max_pool': ((7, 9, 3), lambda: [layers.Conv2D(4, 3, padding='same'),
                                     layers.MaxPooling2D(3, strides=2, padding='same'),
                                     layers.MaxPooling2D((2, 1))], 'MaxPool'),
    'average_pool': ((7, 9, 3), lambda: [layers.Conv2D(4, 3, padding='same'),
                                         layers.AveragePooling2D(2, padding='same'),
                                         layers.AveragePooling2D((3, 2), strides=1, padding='same'),
                                         layers.AveragePooling2D(2)], 'AveragePool'),
    'global_average_pool': ((7, 9, 3), lambda: [layers.Conv2D(4, 3), layers.GlobalAveragePooling2D()],
                            'GlobalAveragePool'),
    'global_max_pool_keepdims': ((7, 9, 3), lambda: [layers.Conv2D(4, 3), layers.GlobalMaxPooling2D(keepdims=True)],
                                 'GlobalMaxPool'),
    'zero_padding': ((7, 9, 3), lambda: [layers.ZeroPadding2D(((1, 2), (0, 3))), layers.Conv2D(3, 2, strides=2)],
                     'Pad'),
    'conv1d_causal': ((11, 3), lambda: [layers.Conv1D(4, 3, padding='causal', dilation_rate=2, activation='elu'),
                                        layers.Conv1D(5, 2, strides=2, padding='same'),
                                        layers.MaxPooling1D(2, padding='same'),
                                        layers.AveragePooling1D(3, strides=1, padding='same'),
                                        layers.GlobalMaxPooling1D()], 'Conv'),
    'conv1d_global_average_keepdims': ((11, 3), lambda: [layers.Conv1D(4, 4, padding='same'),
                                                         layers.GlobalAveragePooling1D(keepdims=True)],
                                       'GlobalAveragePool'),
}


@pytest.mark.parametrize('case', sorted(CHANNELS_FIRST_CASES))
def test_onnx_export_of_convolutions_and_pools(tmp_path, rng, case):
    shape, stack, op = CHANNELS_FIRST_CASES[case]
    model, x = _trained(shape, stack, rng)
    got, ops = _onnx_run(model, x, tmp_path)
    assert op in ops
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-5, rtol=1e-5)


def test_onnx_export_of_a_convnet_transposes_only_at_its_ends(tmp_path, rng):
    inputs = layers.Input(shape=(12, 11, 3))
    x = layers.Conv2D(6, 3, padding='same', activation='relu')(inputs)
    x = layers.MaxPooling2D(2, padding='same')(layers.BatchNormalization()(x))
    x = layers.Conv2D(8, (2, 3), strides=2, activation='relu')(x)
    x = layers.AveragePooling2D(2, padding='same')(x)
    outputs = layers.Dense(4, activation='softmax')(layers.Dense(10, activation='relu')(layers.Flatten()(x)))
    model = numbanet.Model(inputs, outputs, seed=2)
    x = rng.standard_normal((21, 12, 11, 3)).astype(np.float32)
    model.compile(optimizer=numbanet.optimizers.Adam(0.01), loss='sparse_categorical_crossentropy')
    model.fit(x, rng.integers(0, 4, 21), batch_size=8, epochs=2, verbose=0)
    got, ops = _onnx_run(model, x, tmp_path)
    # Into channels-first once at the input, back once before the Flatten, whose order the Dense learned.
    assert ops.count('Transpose') == 2 and ops.index('Transpose', 1) == ops.index('Flatten') - 1
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-5, rtol=1e-5)


def test_a_layer_used_twice_exports_once_with_its_weights_shared(tmp_path, rng):
    ort = pytest.importorskip('onnxruntime')
    inputs = layers.Input(shape=(8, 8, 2), name='output')  # an input may take any name, even the output's
    conv = layers.Conv2D(2, 3, padding='same', name='shared')
    a = layers.GlobalAveragePooling2D()(conv(inputs))
    b = layers.GlobalAveragePooling2D()(conv(layers.Activation('tanh')(inputs)))
    model = numbanet.Model(inputs, layers.Add()([a, b]))
    x = rng.standard_normal((3, 8, 8, 2)).astype(np.float32)
    model.export(tmp_path / 'shared.onnx', format='onnx')
    session = ort.InferenceSession(str(tmp_path / 'shared.onnx'))
    assert [i.name for i in session.get_inputs()] == ['output']
    np.testing.assert_allclose(session.run(None, {'output': x})[0], model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_inputs_and_initializers_never_share_a_name(tmp_path, rng):
    onnx = pytest.importorskip('onnx')
    ort = pytest.importorskip('onnxruntime')
    with pytest.raises(ValueError, match="without '/'"):  # so no input can be named like a weight ('d/kernel')
        layers.Input(shape=(3,), name='d/kernel')
    inputs = layers.Input(shape=(3,), name='kernel')
    model = numbanet.Model(inputs, layers.Dense(2, name='d')(layers.Dense(4, name='kernel_1')(inputs)), seed=1)
    model.export(tmp_path / 'm.onnx')
    graph = onnx.load(str(tmp_path / 'm.onnx')).graph
    assert [i.name for i in graph.input] == ['kernel']
    assert not {i.name for i in graph.input} & {t.name for t in graph.initializer}
    x = rng.standard_normal((5, 3)).astype(np.float32)
    got = ort.InferenceSession(str(tmp_path / 'm.onnx')).run(None, {'kernel': x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-5, rtol=1e-5)


def test_an_int8_model_is_refused_before_anything_is_written(tmp_path):
    pytest.importorskip('onnx')
    model = mlp(hidden=(8,))
    model.quantize('int8')
    with pytest.raises(NotImplementedError, match=r"\['dense.*'\] are quantized \(int8\).*before model.quantize"):
        model.export(tmp_path / 'q.onnx')
    assert list(tmp_path.iterdir()) == []
