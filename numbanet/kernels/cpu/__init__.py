"""The CPU kernel set: every name the runtime may ask a backend for."""
from numbanet.kernels.cpu.accuracy import (binary_accuracy_count, categorical_accuracy_count,
                                           error_sums, sparse_categorical_accuracy_count)
from numbanet.kernels.cpu.adam import adam_update
from numbanet.kernels.cpu.add import add_backward, add_forward
from numbanet.kernels.cpu.concat import concat_backward, concat_forward
from numbanet.kernels.cpu.dense import bias_backward, dense_backward, dense_forward
from numbanet.kernels.cpu.distillation import distillation_backward, distillation_forward
from numbanet.kernels.cpu.gather import gather_rows
from numbanet.kernels.cpu.int8_dense import (int8_dense_forward, int8_dense_reference, pack_int8_weights,
                                             quantize_rows, quantize_static)
from numbanet.kernels.cpu.mask import apply_mask
from numbanet.kernels.cpu.matmul import gemm, gemm_at, gemm_reference, transpose
from numbanet.kernels.cpu.mse import mse_backward, mse_forward
from numbanet.kernels.cpu.relu import relu_backward, relu_forward
from numbanet.kernels.cpu.sgd import sgd_update
from numbanet.kernels.cpu.softmax import softmax_backward, softmax_forward
from numbanet.kernels.cpu.softmax_crossentropy import (
    softmax_crossentropy_backward, softmax_crossentropy_forward, softmax_crossentropy_fused,
    sparse_softmax_crossentropy_backward, sparse_softmax_crossentropy_forward,
    sparse_softmax_crossentropy_fused)
