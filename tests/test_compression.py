"""Compression: int8 quantization, magnitude pruning, knowledge distillation."""
import numpy as np
import pytest

import numbanet
from numbanet import compression, layers
from numbanet.kernels import cpu as k
from numbanet.quantization import Int8Dense, quantize_kernel
from tests.conftest import check_grad
from tests.test_model import blobs, mlp


def _trained(rng, hidden=(32, 16), n=400):
    x, labels = blobs(rng, n=n)
    model = mlp(hidden=hidden)
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    model.fit(x, labels, batch_size=32, epochs=3, verbose=0)
    return model, x, labels


# ---- int8 kernels ----------------------------------------------------------------------------------------------
def _int8_operands(rng, B, K, N):
    from numbanet.kernels.cpu.int8_dense import _padded_k
    xq_signed = rng.integers(-127, 128, (B, K))
    xq = np.full((B, _padded_k(K)), 128, np.uint8)  # stored shifted to unsigned, padded with the code of 0
    xq[:, :K] = xq_signed + 128
    wq = rng.integers(-127, 128, (K, N)).astype(np.int8)
    xs = rng.random(B).astype(np.float32) + 0.1
    ws = rng.random(N).astype(np.float32) + 0.1
    bias = rng.standard_normal(N).astype(np.float32)
    exact = (xq_signed @ wq.astype(np.int64)).astype(np.float64) * xs[:, None] * ws[None, :] + bias
    return xq, wq, xs, ws, bias, exact


@pytest.mark.parametrize('B,K,N', [(1, 784, 256), (7, 13, 70), (129, 257, 10), (5, 3, 130), (8, 64, 64), (4, 5, 17)])
def test_int8_dense_matches_exact_integer_arithmetic(rng, B, K, N):
    xq, wq, xs, ws, bias, exact = _int8_operands(rng, B, K, N)
    packed, colsum = k.pack_int8_weights(wq)
    assert packed.shape[1] % 16 == 0 and np.array_equal(colsum[:N], wq.astype(np.int32).sum(0))
    out, ref = np.empty((B, N), np.float32), np.empty((B, N), np.float32)
    k.int8_dense_forward(out, xq, xs, packed, colsum, ws, bias)  # the VNNI tiles where the CPU has them
    k.int8_dense_reference(ref, xq, xs, packed, colsum, ws, bias)
    np.testing.assert_array_equal(out, ref)  # both sum the same integers exactly
    np.testing.assert_allclose(out, exact, rtol=1e-6, atol=1e-6 * np.abs(exact).max())
    k.int8_dense_forward(out, xq, xs, packed, colsum, ws, None)
    np.testing.assert_allclose(out, exact - bias, rtol=1e-6, atol=1e-6 * np.abs(exact).max())


def test_int8_dense_refuses_operands_that_do_not_fit(rng):
    xq, wq, xs, ws, bias, _ = _int8_operands(rng, 4, 8, 5)
    packed, colsum = k.pack_int8_weights(wq)
    with pytest.raises(ValueError, match='do not fit'):
        k.int8_dense_forward(np.empty((4, 6), np.float32), xq, xs, packed, colsum, ws, bias)
    with pytest.raises(ValueError, match='do not fit'):
        k.int8_dense_forward(np.empty((4, 5), np.float32), xq[:, :4], xs, packed, colsum, ws, bias)


def test_quantize_rows_and_static(rng):
    x = rng.standard_normal((9, 31)).astype(np.float32) * np.array([[0.01], [100]] * 4 + [[0.0]], np.float32)
    q, s = np.empty((9, 32), np.uint8), np.empty(9, np.float32)
    k.quantize_rows(q, s, x)
    scale = np.abs(x).max(1) / 127
    scale[scale == 0] = 1
    np.testing.assert_allclose(s, scale, rtol=1e-6)
    signed = q.astype(np.int32) - 128
    np.testing.assert_array_equal(signed[:, :31], np.clip(np.rint(x / scale[:, None]), -127, 127))
    assert (signed[:, 31] == 0).all()  # the padding codes zero
    assert np.abs(signed[:, :31] * s[:, None] - x).max() <= (s.max() / 2) * 1.0001
    k.quantize_static(q, s, x, 0.05)  # saturates beyond 127 * 0.05
    assert (s == np.float32(0.05)).all() and q.max() == 255 and q.min() == 1


@pytest.mark.parametrize('kind', ['random', 'zeros', 'huge_range'])
def test_weight_quantization_error_bounds(rng, kind):
    W = {'random': rng.standard_normal((40, 24)), 'zeros': np.zeros((40, 24)),
         'huge_range': rng.standard_normal((40, 24)) * np.logspace(-6, 30, 24)}[kind].astype(np.float32)
    q, scale = quantize_kernel(W)
    assert q.dtype == np.int8 and np.abs(q.astype(int)).max() <= 127 and np.all(np.isfinite(scale))
    err = np.abs(q.astype(np.float64) * scale - W)
    assert np.all(err <= scale / 2 * (1 + 1e-6))  # at most half a step per column
    if kind == 'zeros':
        assert not q.any() and (scale == 1).all()


# ---- int8 models ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize('calibrated', [False, True])
def test_quantized_model_predicts_like_the_float_one(rng, calibrated):
    model, x, labels = _trained(rng)
    float_pred = model.predict(x, verbose=0)
    _, float_acc = model.evaluate(x, labels, verbose=0)
    model.quantize('int8', calibration_data=x[:100] if calibrated else None)
    assert model.quantized and not any(isinstance(l, layers.Dense) for l in model.layers)
    assert sum(isinstance(l, Int8Dense) for l in model.layers) == 3
    if calibrated:
        assert all(l.input_scale > 0 for l in model.layers if isinstance(l, Int8Dense))
    pred = model.predict(x, verbose=0)
    assert np.abs(pred - float_pred).max() < 0.05
    _, acc = model.evaluate(x, labels, verbose=0)
    assert acc >= float_acc - 0.01
    assert [w.dtype for w in model.get_weights()][:3] == [np.int8, np.float32, np.float32]


def test_quantized_model_refuses_training_and_requantizing(rng):
    model, x, labels = _trained(rng)
    model.quantize('int8')
    with pytest.raises(RuntimeError, match='quantized to int8'):
        model.fit(x, labels, verbose=0)
    with pytest.raises(RuntimeError, match='quantized to int8'):
        model.train_on_batch(x[:4], labels[:4])
    with pytest.raises(ValueError, match='already quantized'):
        model.quantize('int8')
    with pytest.raises(ValueError, match="mode='int8'"):
        mlp().quantize('int4')
    inputs = layers.Input(shape=(3,))
    with pytest.raises(ValueError, match='no Dense layer'):
        numbanet.Model(inputs, layers.ReLU()(inputs)).quantize('int8')


def test_quantized_model_saves_int8_and_loads(tmp_path, rng):
    x = rng.standard_normal((64, 200)).astype(np.float32)
    model = mlp(hidden=(256, 128), n_in=200)  # large enough that the float biases and scales are small change
    model.save_weights(tmp_path / 'float.safetensors')
    model.quantize('int8', calibration_data=x[:50])
    model.save(tmp_path / 'int8.safetensors')
    model.save_weights(tmp_path / 'int8w.safetensors')
    ratio = (tmp_path / 'float.safetensors').stat().st_size / (tmp_path / 'int8w.safetensors').stat().st_size
    assert 3.0 < ratio < 4.1
    from safetensors.numpy import load_file
    stored = load_file(str(tmp_path / 'int8.safetensors'))
    assert stored[f'{model.layers[1].name}/kernel'].dtype == np.int8
    loaded = numbanet.models.load_model(tmp_path / 'int8.safetensors')
    assert loaded.quantized
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(numbanet.models.SavedFileError, match='int8 .quantized. kernels'):
        mlp(hidden=(256, 128), n_in=200).load_weights(tmp_path / 'int8w.safetensors')


# ---- pruning -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('scope', ['global', 'layer'])
def test_prune_reaches_the_sparsity_and_masks_survive_fit(rng, scope):
    model, x, labels = _trained(rng)
    reached = compression.prune(model, sparsity=0.8, scope=scope)
    assert reached == pytest.approx(0.8, abs=0.01)
    per_layer = compression.sparsity(model, per_layer=True)
    if scope == 'layer':
        assert all(v == pytest.approx(0.8, abs=0.02) for v in per_layer.values())
    zeros = [to == 0 for to in (w for w in model.get_weights()[0::2])]
    biases_before = model.get_weights()[1::2]
    model.fit(x, labels, epochs=3, verbose=0)  # Adam has momentum for the pruned weights: masks must win
    for was_zero, kernel in zip(zeros, model.get_weights()[0::2]):
        assert np.all(kernel[was_zero] == 0.0)
    assert compression.sparsity(model) == pytest.approx(reached)
    assert any(not np.array_equal(a, b) for a, b in zip(biases_before, model.get_weights()[1::2]))


def test_pruned_model_saves_its_masks(tmp_path, rng):
    model, x, labels = _trained(rng)
    compression.prune(model, sparsity=0.9)
    model.save(tmp_path / 'p.safetensors')
    loaded = numbanet.models.load_model(tmp_path / 'p.safetensors')
    assert compression.sparsity(loaded) == pytest.approx(compression.sparsity(model))
    loaded.fit(x, labels, epochs=2, verbose=0)
    assert compression.sparsity(loaded) == pytest.approx(compression.sparsity(model))
    compression.strip_pruning(loaded)
    loaded.fit(x, labels, epochs=1, verbose=0)
    assert compression.sparsity(loaded) < 0.5


def test_prune_refuses_bad_arguments(rng):
    model, _, _ = _trained(rng)
    for bad in (1.0, -0.1, 'most'):
        with pytest.raises(ValueError, match='sparsity'):
            compression.prune(model, sparsity=bad)
    with pytest.raises(ValueError, match='scope'):
        compression.prune(model, 0.5, scope='row')
    with pytest.raises(ValueError, match='no Dense layers named'):
        compression.prune(model, 0.5, layers=['nope'])
    model.quantize('int8')
    with pytest.raises(ValueError, match='before quantize'):
        compression.prune(model, 0.5)


# ---- distillation ---------------------------------------------------------------------------------------------------
def _distill_reference(s, t, y, T, a):
    def log_softmax(z):
        z = z - z.max(1, keepdims=True)
        return z - np.log(np.exp(z).sum(1, keepdims=True))
    hard = -(y * log_softmax(s)).sum()
    pt = np.exp(log_softmax(t / T))
    return a * hard + (1 - a) * T * T * (pt * (np.log(pt) - log_softmax(s / T))).sum()


@pytest.mark.parametrize('B,C', [(1, 10), (7, 13)])
@pytest.mark.parametrize('T,alpha', [(1.0, 0.5), (3.0, 0.1), (20.0, 0.0)])
def test_distillation_kernels_against_numpy_and_differences(rng, B, C, T, alpha):
    s, t = rng.standard_normal((B, C)) * 3, rng.standard_normal((B, C)) * 5
    s[0, 0] = 1e4 / T  # stable for large logits too
    y = np.eye(C)[rng.integers(0, C, B)]
    assert k.distillation_forward(s, t, y, T, alpha) == pytest.approx(_distill_reference(s, t, y, T, alpha), rel=1e-10)
    d = np.empty_like(s)
    k.distillation_backward(d, s, t, y, T, alpha)
    s[0, 0] = 0.5
    k.distillation_backward(d, s, t, y, T, alpha)
    check_grad(lambda: k.distillation_forward(s, t, y, T, alpha) / B, s, d, rng, eps=1e-6, rtol=1e-5, atol=1e-9)


def test_distiller_with_alpha_1_is_plain_training(rng):
    teacher, x, labels = _trained(rng)
    y = numbanet.utils.to_categorical(labels, 5)
    alone, student = mlp(hidden=(8,), seed=3), mlp(hidden=(8,), seed=3)
    alone.compile(optimizer='adam', loss='categorical_crossentropy')
    distiller = compression.Distiller(teacher, student, temperature=4.0, alpha=1.0)
    distiller.compile(optimizer='adam')
    alone.fit(x, y, batch_size=32, epochs=2, verbose=0)
    distiller.fit(x, y, batch_size=32, epochs=2, verbose=0)
    for a, b in zip(alone.get_weights(), student.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_distiller_trains_the_student_and_leaves_the_teacher(rng):
    teacher, x, labels = _trained(rng)
    teacher_weights = teacher.get_weights()
    student = mlp(hidden=(8,), seed=3)
    distiller = compression.Distiller(teacher, student, temperature=3.0, alpha=0.1)
    distiller.compile(optimizer='adam', metrics=['accuracy'])
    history = distiller.fit(x, labels, batch_size=32, epochs=20, verbose=0)  # integer labels are accepted
    assert history.history['loss'][-1] < history.history['loss'][0]
    for a, b in zip(teacher_weights, teacher.get_weights()):
        np.testing.assert_array_equal(a, b)
    # The student model itself (its layers were trained in place) now follows the teacher.
    agreement = (student.predict(x, verbose=0).argmax(1) == teacher.predict(x, verbose=0).argmax(1)).mean()
    assert agreement > 0.9
    _, acc = distiller.evaluate(x, labels, verbose=0)
    assert acc > 0.9
    with pytest.raises(ValueError, match='distillation loss'):
        distiller.compile(optimizer='adam', loss='mse')
    with pytest.raises(ValueError, match='outputs differ'):
        compression.Distiller(teacher, mlp(n_out=3))
    with pytest.raises(ValueError, match='temperature'):
        compression.Distiller(teacher, student, temperature=0)
