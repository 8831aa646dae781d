"""The CUDA kernel set: the same names and arguments as numbanet.kernels.cpu, on device arrays.
Importing it needs numba's CUDA target (numba-cuda) but no GPU; launching a kernel needs one (or the
simulator, NUMBA_ENABLE_CUDASIM=1, which the tests use)."""
from numbanet.kernels.cuda.accuracy import (binary_accuracy_count, categorical_accuracy_count, error_sums,
                                            sparse_categorical_accuracy_count, sparse_top_k_categorical_count,
                                            top_k_categorical_count)
from numbanet.kernels.cuda.activations import (elu_backward, elu_forward, exponential_backward,
                                               exponential_forward, gelu_backward, gelu_forward,
                                               hard_sigmoid_backward, hard_sigmoid_forward, leaky_relu_backward,
                                               leaky_relu_forward, selu_backward, selu_forward, sigmoid_backward,
                                               sigmoid_forward, silu_backward, silu_forward, softplus_backward,
                                               softplus_forward, softsign_backward, softsign_forward,
                                               tanh_backward, tanh_forward)
from numbanet.kernels.cuda.adagrad import adagrad_check, adagrad_update
from numbanet.kernels.cuda.adam import adam_amsgrad_check, adam_amsgrad_update, adam_check, adam_update
from numbanet.kernels.cuda.adamax import adamax_check, adamax_update
from numbanet.kernels.cuda.bounds import bounds_check
from numbanet.kernels.cuda.add import add_backward, add_forward
from numbanet.kernels.cuda.batchnorm import (batchnorm_backward, batchnorm_backward_infer, batchnorm_forward_infer,
                                             batchnorm_forward_train, batchnorm_update_moving)
from numbanet.kernels.cuda.binary_crossentropy import binary_crossentropy_forward, binary_crossentropy_fused
from numbanet.kernels.cuda.categorical_hinge import categorical_hinge_backward, categorical_hinge_forward
from numbanet.kernels.cuda.clip import clip_values, scale_values, squared_norm
from numbanet.kernels.cuda.concat import concat_backward, concat_forward
from numbanet.kernels.cuda.confusion import confusion_counts
from numbanet.kernels.cuda.conv2d import col2im, conv2d_backward, conv2d_forward, conv2d_reference, im2col
from numbanet.kernels.cuda.conv2d_pool import conv2d_relu_maxpool_backward, conv2d_relu_maxpool_forward
from numbanet.kernels.cuda.dense import (bias_backward, dense_backward, dense_backward_calls, dense_forward,
                                         dense_forward_call)
from numbanet.kernels.cuda.distillation import distillation_backward, distillation_forward
from numbanet.kernels.cuda.dropout import dropout_backward, dropout_forward
from numbanet.kernels.cuda.gather import gather_rows
from numbanet.kernels.cuda.huber import huber_backward, huber_forward
from numbanet.kernels.cuda.int8_dense import (int8_dense_forward, int8_dense_reference, pack_int8_weights,
                                              quantize_rows, quantize_static)
from numbanet.kernels.cuda.kl_divergence import kl_divergence_backward, kl_divergence_forward
from numbanet.kernels.cuda.layernorm import layernorm_backward, layernorm_forward
from numbanet.kernels.cuda.log_cosh import log_cosh_backward, log_cosh_forward
from numbanet.kernels.cuda.mae import mae_backward, mae_forward
from numbanet.kernels.cuda.mask import apply_mask
from numbanet.kernels.cuda.matmul import gemm, gemm_at, gemm_reference, transpose
from numbanet.kernels.cuda.mse import mse_backward, mse_forward
from numbanet.kernels.cuda.nadam import nadam_check, nadam_update
from numbanet.kernels.cuda.regularizer import regularizer_backward, regularizer_forward
from numbanet.kernels.cuda.relu import relu_backward, relu_forward, relu_mask, relu_mask_call
from numbanet.kernels.cuda.rescale import rescale_backward, rescale_forward
from numbanet.kernels.cuda.rmsprop import rmsprop_check, rmsprop_update
from numbanet.kernels.cuda.sample_weight import scale_rows
from numbanet.kernels.cuda.sgd import sgd_check, sgd_update
from numbanet.kernels.cuda.softmax import softmax_backward, softmax_forward
from numbanet.kernels.cuda.softmax_crossentropy import (
    softmax_crossentropy_backward, softmax_crossentropy_forward, softmax_crossentropy_fused,
    sparse_softmax_crossentropy_backward, sparse_softmax_crossentropy_forward,
    sparse_softmax_crossentropy_fused)

from numbanet.kernels.cuda.pooling import (avg_pool2d_backward, avg_pool2d_forward, global_avg_pool2d_backward,
                                           global_avg_pool2d_forward, global_max_pool2d_backward,
                                           global_max_pool2d_forward, max_pool2d_backward, max_pool2d_forward,
                                           zero_pad2d_backward, zero_pad2d_forward)
