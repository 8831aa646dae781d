"""Bad input is refused before any kernel runs, with an error that names the problem, and leaves the
model exactly as it was."""

import json
import re
import struct

import numpy as np
import pytest
from safetensors import safe_open

import numbanet
from tests.helpers import mlp


@pytest.fixture
def setup(rng):
    model = mlp()
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    x = rng.standard_normal((40, 12)).astype(np.float32)
    y = numbanet.utils.to_categorical(rng.integers(0, 5, 40), 5)
    return model, x, y


def _refused(model, call, error, match):
    before = model.get_weights()
    iterations = model.optimizer.iterations if model.optimizer else None
    with pytest.raises(error, match=match):
        call()
    for a, b in zip(before, model.get_weights()):
        assert np.array_equal(a, b)
    if iterations is not None:
        assert model.optimizer.iterations == iterations


def test_wrong_feature_shape(setup):
    model, x, y = setup
    _refused(model, lambda: model.fit(x[:, :10], y, verbose=0), ValueError, r"shape \(40, 10\).*expects")
    _refused(model, lambda: model.predict(x[:, :10], verbose=0), ValueError, 'expects')
    _refused(model, lambda: model.fit(x.reshape(40, 3, 4), y, verbose=0), ValueError, 'reshape')


def test_non_numeric_dtypes_refused_float64_converted(setup):
    model, x, y = setup
    _refused(model, lambda: model.fit(x.astype(str), y, verbose=0), TypeError, 'strings')
    _refused(model, lambda: model.fit(x.astype(object), y, verbose=0), TypeError, 'Python objects')
    _refused(model, lambda: model.fit(x.astype(complex), y, verbose=0), TypeError, 'complex')
    _refused(model, lambda: model.fit(x, y.astype(str), verbose=0), TypeError, 'strings')
    a = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x.astype(np.float64), verbose=0), a)
    model.fit(x.astype(np.float64), y.astype(np.float64), epochs=1, verbose=0)  # accepted


def test_an_extension_dtype_is_named_as_one(setup):
    # bfloat16 (ml_dtypes, which onnx brings) is numpy kind 'V' like a record, but has no fields.
    ml_dtypes = pytest.importorskip('ml_dtypes')
    model, x, y = setup
    _refused(model, lambda: model.fit(x.astype(ml_dtypes.bfloat16), y, verbose=0), TypeError,
             r"bfloat16 \(an extension type .*astype\('float32'\)")
    records = np.zeros(x.shape, dtype=[('a', 'f4')])
    _refused(model, lambda: model.predict(records, verbose=0), TypeError, 'structured records')


def _extension_dtypes():
    # numpy's raw 'V2' is what numbanet sees of any extension type (kind 'V', no fields), so it stands in
    # where ml_dtypes is not installed; bfloat16 itself where it is.
    try:
        import ml_dtypes
    except ImportError:
        return [np.dtype('V2')]
    return [np.dtype('V2'), np.dtype(ml_dtypes.bfloat16)]


@pytest.mark.parametrize('dtype', _extension_dtypes(), ids=str)
def test_an_extension_dtype_is_a_value_error_naming_the_conversion_wherever_an_array_enters(setup, dtype):
    # issue #16, item 10: a bfloat16 tensor raised a bare TypeError. It is a ValueError now (still a TypeError,
    # as before), naming the dtype and the conversion, at every door.
    model, x, y = setup
    cast = lambda a: np.asarray(a, np.float32).astype(dtype) if dtype.name == 'bfloat16' else \
        np.frombuffer(np.asarray(a, np.float16).tobytes(), dtype).reshape(np.shape(a))
    layer = model.layers[1]
    calls = {
        'fit x': lambda: model.fit(cast(x), y, verbose=0),
        'fit y': lambda: model.fit(x, cast(y), verbose=0),
        'sample_weight': lambda: model.fit(x, y, sample_weight=cast(np.ones(40)), verbose=0),
        'validation_data': lambda: model.fit(x, y, validation_data=(cast(x), y), verbose=0),
        'evaluate': lambda: model.evaluate(cast(x), y, verbose=0),
        'predict': lambda: model.predict(cast(x), verbose=0),
        'train_on_batch': lambda: model.train_on_batch(cast(x), y),
        'call': lambda: model(cast(x)),
        'layer call': lambda: layer(cast(x)),
        'set_weights': lambda: model.set_weights([cast(w) for w in model.get_weights()]),
        'layer set_weights': lambda: layer.set_weights([cast(w) for w in layer.get_weights()]),
    }
    for what, call in calls.items():
        for error in (ValueError, TypeError):
            _refused(model, call, error, rf"dtype {re.escape(str(dtype))} \(an extension type .*\.astype\('float32'\)")


def test_a_bfloat16_weights_file_is_refused_naming_the_dtype(setup, tmp_path):
    # A safetensors file holding BF16 tensors, written by hand so that no bfloat16 support is needed to make it.
    model, _, _ = setup
    path = tmp_path / 'bf16.safetensors'
    model.save_weights(path)
    with safe_open(str(path), framework='np') as f:
        names = {name: f.get_tensor(name).shape for name in f.keys()}
    header, offset = {}, 0
    for name, shape in names.items():
        size = 2 * int(np.prod(shape))
        header[name] = {'dtype': 'BF16', 'shape': list(shape), 'data_offsets': [offset, offset + size]}
        offset += size
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack('<Q', len(blob)) + blob + bytes(offset))
    _refused(model, lambda: model.load_weights(path), numbanet.saving.SavedFileError, '(?i)bfloat16')


def test_nan_and_inf_in_data(setup):
    model, x, y = setup
    bad = x.copy()
    bad[3, 7] = np.nan
    bad[5, 1] = np.inf
    _refused(model, lambda: model.fit(bad, y, verbose=0), ValueError, r"2 NaN or Inf.*\(3, 7\)")
    _refused(model, lambda: model.evaluate(bad, y, verbose=0), ValueError, 'NaN')
    _refused(model, lambda: model.predict(bad, verbose=0), ValueError, 'NaN')
    bad_y = y.copy()
    bad_y[0, 0] = np.nan
    _refused(model, lambda: model.fit(x, bad_y, verbose=0), ValueError, 'y contains 1 NaN')
    huge = x.astype(np.float64)
    huge[0, 0] = 1e300  # beyond float32
    _refused(model, lambda: model.fit(huge, y, verbose=0), ValueError, 'Inf')
    _refused(model, lambda: model.fit(x, y, validation_data=(bad, y), verbose=0), ValueError, 'validation x')


def test_label_width_and_range(setup, rng):
    model, x, y = setup
    _refused(model, lambda: model.fit(x, y[:, :4], verbose=0), ValueError, r'\(N, 5\)')
    labels = rng.integers(0, 5, 40)
    _refused(model, lambda: model.fit(x, labels, verbose=0), ValueError, 'to_categorical')
    sparse = mlp()
    sparse.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    bad = labels.copy()
    bad[4] = 5
    _refused(sparse, lambda: sparse.fit(x, bad, verbose=0), ValueError, r'label 5, outside \[0, 5\)')
    bad[4] = -1
    _refused(sparse, lambda: sparse.fit(x, bad, verbose=0), ValueError, 'label -1')
    _refused(sparse, lambda: sparse.fit(x, labels + 0.5, verbose=0), ValueError, 'whole-number')
    _refused(sparse, lambda: sparse.fit(x, y, verbose=0), ValueError, r'\(N,\) or \(N, 1\)')
    sparse.fit(x, labels.reshape(-1, 1).astype(np.float32), verbose=0)  # (N, 1) float labels are fine


def test_length_mismatch_and_empty(setup):
    model, x, y = setup
    _refused(model, lambda: model.fit(x, y[:30], verbose=0), ValueError, '40 samples but y has 30')
    _refused(model, lambda: model.fit(x[:0], y[:0], verbose=0), ValueError, 'empty')
    _refused(model, lambda: model.predict(x[:0], verbose=0), ValueError, 'empty')
    _refused(model, lambda: model.fit(x, None, verbose=0), ValueError, 'missing')
    _refused(model, lambda: model.fit(None, y, verbose=0), TypeError, 'None')


@pytest.mark.parametrize('bad', [0, -1, 2.5, True, '32'])
def test_bad_batch_size(setup, bad):
    model, x, y = setup
    _refused(model, lambda: model.fit(x, y, batch_size=bad, verbose=0), ValueError, 'batch_size')
    _refused(model, lambda: model.predict(x, batch_size=bad, verbose=0), ValueError, 'batch_size')


def test_bad_fit_arguments(setup):
    model, x, y = setup
    _refused(model, lambda: model.fit(x, y, epochs=-1, verbose=0), ValueError, 'epochs')
    _refused(model, lambda: model.fit(x, y, verbose=3), ValueError, 'verbose')
    _refused(model, lambda: model.fit(x, y, validation_split=1.5, verbose=0), ValueError, 'validation_split')
    _refused(model, lambda: model.fit(x, y, validation_data=x, verbose=0), ValueError, 'validation_data')


def test_set_weights_checks_everything_first(setup):
    model, _, _ = setup
    ws = model.get_weights()
    _refused(model, lambda: model.set_weights(ws[:-1]), ValueError, 'expects 6 arrays')
    wrong = [w.copy() for w in ws]
    wrong[-1] = np.zeros(4)  # the last one is wrong: nothing before it may be written either
    wrong[0] += 1
    _refused(model, lambda: model.set_weights(wrong), ValueError, r"dense_\d+/bias.*\(5,\).*\(4,\)")
    wrong[-1] = np.array(['a'] * 5)
    _refused(model, lambda: model.set_weights(wrong), TypeError, 'strings')
    wrong[-1] = np.full(5, np.nan)
    _refused(model, lambda: model.set_weights(wrong), ValueError, 'NaN')
    _refused(model, lambda: model.set_weights(ws[0]), TypeError, 'list')


@pytest.mark.parametrize('shape,hint', [((4, 8, 8), r'x\[\.\.\., None\]'), ((4, 3, 8, 8), r'x.transpose\(0, 2, 3, 1\)'),
                                        ((4, 192), r'x.reshape\(\(len\(x\),\) \+ \(8, 8, 3\)\)')])
def test_image_shape_errors_say_how_to_fix_them(shape, hint):
    layers = numbanet.layers
    model = numbanet.Sequential([layers.Input((8, 8, 3 if len(shape) != 3 else 1)), layers.Flatten(), layers.Dense(2)])
    with pytest.raises(ValueError, match=hint):
        model.predict(np.zeros(shape, np.float32), verbose=0)
