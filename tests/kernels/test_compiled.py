"""A jitted function called through its address (kernels/cpu/_compiled.py): the same results as a call by name,
a clear error for arguments of other types, errors raised inside it propagated, and callers that load from
numba's cache in a new process, where every address differs."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba import njit, types

import numbanet
from numbanet.kernels.cpu._compiled import TABLE, call, compiled, slot_for

compiled_only = pytest.mark.skipif(os.environ.get('NUMBA_DISABLE_JIT') == '1', reason="relies on numba's typing")
_ROWS = (types.float32[:, ::1], types.float32[:, ::1], types.float32, types.int64, types.int64)


@njit
def _scale_rows(out, inp, factor, r0, r1):
    for i in range(r0, r1):
        for j in range(inp.shape[1]):
            out[i, j] = inp[i, j] * factor


@njit
def _refuses(n):
    if n < 0:
        raise ValueError("n must not be negative")


@njit
def _answers(n):
    return n


@njit
def _twice(table, body, out, inp, factor):
    # Two calls of one body, on the two halves of the rows.
    half = np.int64(inp.shape[0] // 2)
    call(table, body, out, inp, factor, np.int64(0), half)
    call(table, body, out, inp, factor, half, np.int64(inp.shape[0]))


@njit
def _check(table, body, n):
    call(table, body, n)


def test_a_call_through_the_address_is_the_call_by_name(rng):
    inp = rng.standard_normal((7, 5)).astype(np.float32)
    out = np.zeros_like(inp)
    body = compiled(_scale_rows, _ROWS)
    _twice(TABLE, body, out, inp, np.float32(3))
    np.testing.assert_array_equal(out, inp * np.float32(3))
    assert compiled(_scale_rows, _ROWS) == body  # made once
    assert slot_for(_scale_rows, (out, inp, np.float32(3), 0, 0)) == body  # the same types, found from arguments


@compiled_only
def test_arguments_of_other_types_are_refused_instead_of_misread(rng):
    inp = rng.standard_normal((4, 3))  # float64, where the body was made for float32
    out = np.zeros_like(inp)
    body = compiled(_scale_rows, _ROWS)
    with pytest.raises(TypeError, match='no body compiled for these arguments'):
        _twice(TABLE, body, out, inp, np.float32(3))
    out32 = out.astype(np.float32)
    with pytest.raises(TypeError, match='no body compiled for these arguments'):
        _twice(TABLE, TABLE.shape[0], out32, inp.astype(np.float32), np.float32(3))  # past the table's end
    with pytest.raises(TypeError, match='no body compiled for these arguments'):
        _twice(TABLE, compiled(_refuses, (types.int64,)), out32, inp.astype(np.float32), np.float32(3))
    assert not out.any() and not out32.any()


@compiled_only
def test_only_bodies_that_return_nothing_are_taken():
    with pytest.raises(TypeError, match='returns nothing'):
        compiled(_answers, (types.int64,))
    with pytest.raises(TypeError, match='needs a jitted function'):
        compiled(lambda n: None, (types.int64,))


def test_an_error_inside_the_body_reaches_the_caller():
    body = compiled(_refuses, (types.int64,))
    _check(TABLE, body, 4)
    with pytest.raises(ValueError, match='must not be negative'):
        _check(TABLE, body, -1)


@compiled_only
def test_callers_loaded_from_the_cache_call_this_process_address(tmp_path):
    # The caller's cached machine code holds no address: every process hands its own in. Run twice on one cache
    # (the second run loads the caller), and once more with the body's own file changed, which numba then
    # compiles anew at a new address.
    (tmp_path / 'probe_body.py').write_text(textwrap.dedent('''
        from numba import njit

        @njit(cache=True)
        def body(out, k):
            for i in range(out.shape[0]):
                out[i] = i * k
    '''))
    (tmp_path / 'probe_caller.py').write_text(textwrap.dedent('''
        from numba import njit
        from numbanet.kernels.cpu._compiled import call

        @njit(cache=True)
        def caller(table, body, out, k):
            call(table, body, out, k)
            call(table, body, out[1:], k + 1)
    '''))
    run = textwrap.dedent('''
        import numpy as np, probe_body, probe_caller
        from numba import types
        from numbanet.kernels.cpu._compiled import TABLE, compiled
        out = np.zeros(5, np.int64)
        body = compiled(probe_body.body, (types.int64[::1], types.int64))
        probe_caller.caller(TABLE, body, out, 2)
        print(out.tolist(), sum(probe_caller.caller.stats.cache_hits.values()))
    ''')
    root = os.path.dirname(os.path.dirname(numbanet.__file__))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / 'cache'), PYTHONPATH=os.pathsep.join([str(tmp_path), root]))
    outputs = []
    for step in range(3):
        if step == 2:
            (tmp_path / 'probe_body.py').write_text((tmp_path / 'probe_body.py').read_text() + '\n# changed\n')
        done = subprocess.run([sys.executable, '-c', run], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.append(done.stdout.strip())
    assert outputs == ['[0, 0, 3, 6, 9] 0', '[0, 0, 3, 6, 9] 1', '[0, 0, 3, 6, 9] 1'], outputs
