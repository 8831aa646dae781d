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
