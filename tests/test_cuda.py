"""The GPU backend, from the test run that has no GPU: the CUDA kernel files mirror the CPU ones, every
CUDA kernel compiles to PTX for an H100/H200 (where numba-cuda's compiler libraries are installed), the
CUDA tests pass under numba's simulator, and device='cuda' without a GPU is one clear error."""
import importlib
import importlib.util
import inspect
import os
import pkgutil
import subprocess
import sys

import pytest

import numbanet
from numbanet.kernels import cpu

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _public_modules(package):
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith('_'))


def _params(fn):
    fn = getattr(fn, 'py_func', fn)
    return list(inspect.signature(fn).parameters)


def test_cuda_kernel_files_mirror_the_cpu_ones():
    gpu = importlib.import_module('numbanet.kernels.cuda')  # importing needs no GPU
    assert _public_modules(cpu) == _public_modules(gpu)
    for name in _public_modules(cpu):
        cpu_mod = importlib.import_module(f'numbanet.kernels.cpu.{name}')
        gpu_mod = importlib.import_module(f'numbanet.kernels.cuda.{name}')
        public = lambda mod: {n for n, v in vars(mod).items() if callable(v) and not n.startswith('_')
                              and getattr(v, '__module__', getattr(getattr(v, 'py_func', None), '__module__', ''))
                              == mod.__name__}
        assert public(cpu_mod) == public(gpu_mod), name
        for fn_name in public(cpu_mod):
            assert _params(getattr(cpu_mod, fn_name)) == _params(getattr(gpu_mod, fn_name)), fn_name
    names = lambda pkg: {n for n in dir(pkg) if not n.startswith('_')} - set(_public_modules(pkg))
    assert names(cpu) == names(gpu) - {'cuda', 'numpy'}


def test_cuda_device_without_a_gpu_is_one_clear_error():
    if numbanet.cuda_available():
        pytest.skip('a GPU is present')
    assert numbanet.cuda_available() is False
    inputs = numbanet.layers.Input(shape=(3,))
    with pytest.raises(RuntimeError, match="device='cuda' needs an NVIDIA GPU"):
        numbanet.Model(inputs, numbanet.layers.Dense(2)(inputs), device='cuda')
    with pytest.raises(ValueError, match="'cpu' or 'cuda'"):
        numbanet.Model(inputs, numbanet.layers.Dense(2)(inputs), device='tpu')


@pytest.mark.skipif(os.environ.get('NUMBA_ENABLE_CUDASIM') == '1', reason='already under the simulator')
def test_cuda_tests_pass_under_the_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM='1', NUMBANET_ALLOW_CUDASIM='1', PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests/gpu'],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert ' passed' in proc.stdout and 'skipped' not in proc.stdout.splitlines()[-1]


# ---- PTX -------------------------------------------------------------------------------------------------------
def _signatures():
    from numba import boolean, float32, float64, int32, int64, uint8, uint64
    f2, fa = float32[:, ::1], float32[:, :]  # fa: any layout (a transposed view)
    u2, w2 = uint8[:, ::1], int32[:, ::1]
    f1, d1, i1, d2 = float32[::1], float64[::1], int64[::1], float64[:, ::1]
    f4, i4, u4 = float32[:, :, :, ::1], int32[:, :, :, ::1], uint8[:, :, :, ::1]
    return {
        '_grid._sum_kernel': (d1, d1, int64), '_grid._fill': (f1, float64),
        '_grid._weighted_sum_kernel': (d1, d1, f1, int64), 'sample_weight._scale_rows': (f2, f1),
        'matmul._gemm_tiled': (f2, fa, f2, f1, boolean, boolean, boolean), 'matmul._gemm_simple': (f2, f2, f2, f1, boolean),
        'matmul._transpose_kernel': (f2, f2),
        'dense._bias_backward': (f1, f2, boolean),
        'conv2d._im2col': (f2, f4) + (int64,) * 10, 'conv2d._col2im': (f4, f2) + (int64,) * 10,
        'conv2d._reference': (f4, f4, f4, f1) + (int64,) * 6,
        'conv2d._bias_parts': (f2, f2, f2, boolean), 'conv2d._add_parts': (f1, f2),
        'conv2d_pool._forward': (f4, u4, f2, f2, f1, int64, int64),
        'conv2d_pool._weight_parts': (float32[:, :, ::1], f2, f4, u4, int64, int64),
        'conv2d_pool._bias_parts': (f2, f4, u4), 'conv2d_pool._add_parts': (f1, f2),
        'conv2d_pool._input_grad': (f4, f4, u4, f4) + (int64,) * 8,
        'pooling._max_forward': (f4, i4, f4) + (int64,) * 6, 'pooling._max_backward': (f4, f4, i4),
        'pooling._avg_forward': (f4, f4) + (int64,) * 6, 'pooling._avg_backward': (f4, f4) + (int64,) * 6,
        'pooling._global_avg_forward': (f2, f4), 'pooling._global_avg_backward': (f4, f2),
        'pooling._global_max_forward': (f2, w2, f4), 'pooling._global_max_backward': (f4, f2, w2),
        'pooling._pad_forward': (f4, f4, int64, int64), 'pooling._pad_backward': (f4, f4, int64, int64),
        'relu._relu_forward': (f2, f2), 'relu._relu_backward': (f2, f2, f2), 'relu._relu_mask': (f2, f2),
        'softmax._softmax_forward': (f2, f2), 'softmax._softmax_backward': (f2, f2, f2),
        'softmax_crossentropy._forward': (d1, f2, f2, f2), 'softmax_crossentropy._backward': (f2, f2, f2),
        'softmax_crossentropy._fused': (d1, f2, f2, f2), 'softmax_crossentropy._sparse_forward': (d1, f2, f2, i1),
        'softmax_crossentropy._sparse_backward': (f2, f2, i1), 'softmax_crossentropy._sparse_fused': (d1, f2, f2, i1),
        'mse._forward': (d1, f2, f2), 'mse._backward': (f2, f2, f2),
        'sgd._sgd': (f1, f1, f1, float32, float32, boolean), 'adam._adam': (f1, f1, f1, f1, float32, float32, float32,
                                                                             float32),
        'adam._amsgrad': (f1,) * 5 + (float32,) * 4, 'adamax._adamax': (f1,) * 4 + (float32,) * 4,
        'nadam._nadam': (f1,) * 4 + (float32,) * 7, 'adagrad._adagrad': (f1,) * 3 + (float32,) * 2,
        'rmsprop._rmsprop': (f1,) * 5 + (float32,) * 5 + (boolean, boolean),
        'sgd._sgd_check': (int32[::1], f1, f1, f1, float32, float32, boolean, float32),
        'adam._check': (int32[::1],) + (f1,) * 5 + (float32,) * 5 + (boolean,),
        'bounds._bounds': (int32[::1], f1, f1, float32, float32),
        'adamax._adamax_check': (int32[::1],) + (f1,) * 4 + (float32,) * 5,
        'nadam._nadam_check': (int32[::1],) + (f1,) * 4 + (float32,) * 8,
        'adagrad._adagrad_check': (int32[::1],) + (f1,) * 3 + (float32,) * 3,
        'rmsprop._rmsprop_check': (int32[::1],) + (f1,) * 5 + (float32,) * 5 + (boolean, boolean, float32),
        'clip._partials': (d1, f1, int64), 'clip._scale': (f1, float32), 'clip._clip': (f1, float32),
        'add._add': (f2, f2, f2), 'add._copy': (f2, f2),
        'concat._forward': (f2, f2, int64), 'concat._backward': (f2, f2, int64),
        'gather._gather_2d': (f2, f2, i1), 'gather._gather_1d': (i1, i1, i1),
        'rescale._forward': (f2, f2, float32, float32),
        'accuracy._categorical': (d1, f2, f2), 'accuracy._sparse': (d1, f2, i1),
        'accuracy._binary': (d1, f2, f2, float64), 'accuracy._errors': (d1, d1, f2, f2),
        'int8_dense._quantize': (u2, f1, f2, float32), 'int8_dense._int8_dense': (f2, u2, f1, w2, f1, f1),
        'mask._apply_mask': (f1, f1),
        'distillation._forward': (d1, f2, f2, f2, float64, float64),
        'distillation._backward': (f2, f2, f2, f2, float64, float64),
        **{f'activations._{name}_forward': (f2, f2) for name in ('sigmoid', 'tanh', 'exponential', 'selu',
                                                                  'softplus', 'softsign', 'silu', 'hard_sigmoid')},
        **{f'activations._{name}_backward': (f2, f2, f2) for name in ('sigmoid', 'tanh', 'exponential', 'softplus',
                                                                       'softsign', 'silu', 'hard_sigmoid')},
        'activations._selu_backward': (f2, f2, f2, f2),
        'activations._gelu_forward': (f2, f2, boolean), 'activations._gelu_backward': (f2, f2, f2, boolean),
        'activations._leaky_relu_forward': (f2, f2, float32), 'activations._leaky_relu_backward': (f2, f2, f2, float32),
        'activations._elu_forward': (f2, f2, float32), 'activations._elu_backward': (f2, f2, f2, f2, float32),
        'binary_crossentropy._fused': (d1, f2, f2, f2), 'binary_crossentropy._forward': (d1, f2, f2, f2),
        'huber._forward': (d1, f2, f2, float64), 'huber._backward': (f2, f2, f2, float64),
        **{f'{name}._forward': (d1, f2, f2) for name in ('mae', 'kl_divergence', 'categorical_hinge', 'log_cosh')},
        **{f'{name}._backward': (f2, f2, f2) for name in ('mae', 'kl_divergence', 'categorical_hinge', 'log_cosh')},
        'batchnorm._stats': (f1, f1, d2, f2, float64), 'batchnorm._infer_coef': (d2, f1, f1, float64),
        'batchnorm._normalize': (f2, f2, d2, f1, f1), 'batchnorm._update_moving': (f1, f1, f1, f1, float64),
        'batchnorm._grad_sums': (f1, f1, d2, f2, f2, f1, f1, float64), 'batchnorm._grad_input': (f2, f2, f2, d2, f1),
        'batchnorm._backward_infer': (f2, f2, f1, f1, float64),
        'layernorm._forward': (f2, f1, f1, f2, f1, f1, float64), 'layernorm._backward_rows': (f2, f2, f2, f1, f1, f1),
        'layernorm._param_sums': (f1, f1, f2, f2, f1, f1),
        'dropout._forward': (f2, f2, f2, float64, float32, uint64), 'dropout._backward': (f2, f2, f2),
        'regularizer._partials': (d1, f1, float64, float64, int64), 'regularizer._backward': (f1, f1, float64, float64),
        'accuracy._top_k': (d1, f2, f2, int64), 'accuracy._sparse_top_k': (d1, f2, i1, int64),
        'confusion._row_counts': (int32[::1], f2, f2, f1), 'confusion._sum_rows': (float64[:, ::1], int32[::1], int64),
    }


def _kernels():
    """Every @cuda.jit kernel (not device function) in numbanet.kernels.cuda, as 'module.name' -> dispatcher."""
    gpu = importlib.import_module('numbanet.kernels.cuda')
    found = {}
    for info in pkgutil.iter_modules(gpu.__path__):
        module = importlib.import_module(f'numbanet.kernels.cuda.{info.name}')
        for name, value in vars(module).items():
            if hasattr(value, 'py_func') and type(value).__name__.endswith('Dispatcher') \
                    and not getattr(value, 'targetoptions', {}).get('device', False):
                found[f'{info.name}.{name}'] = value
    return found


def _nvvm_or_skip():
    if os.environ.get('NUMBA_ENABLE_CUDASIM') == '1':
        pytest.skip('the simulator cannot compile PTX')
    if importlib.util.find_spec('numba_cuda') is None:
        # numba's own, deprecated CUDA target asks the driver for some kernels (device functions, libdevice).
        pytest.skip("compiling without a GPU needs NVIDIA's numba-cuda: pip install 'numbanet[cuda]'")
    from numba import cuda
    try:
        cuda.compile_ptx(lambda a: None, (numbanet_float32_1d(),), cc=(9, 0))
    except Exception as e:  # no libNVVM: numba-cuda[cu12] is not installed
        pytest.skip(f"no CUDA compiler here ({type(e).__name__}); pip install 'numbanet[cuda]' provides one")


def numbanet_float32_1d():
    from numba import float32
    return float32[::1]


def test_every_cuda_kernel_has_a_ptx_signature():
    assert set(_kernels()) == set(_signatures())


@pytest.mark.parametrize('name', sorted(_signatures()))
def test_cuda_kernel_compiles_to_ptx_for_sm90(name):
    _nvvm_or_skip()
    from numba import cuda
    ptx, _ = cuda.compile_ptx(_kernels()[name].py_func, _signatures()[name], cc=(9, 0))
    assert '.target sm_90' in ptx and '.entry' in ptx
