"""The CPU kernel set: every name the runtime may ask a backend for."""
from numbanet.kernels.cpu.accuracy import (binary_accuracy_count, categorical_accuracy_count, error_sums,
                                           sparse_categorical_accuracy_count, sparse_top_k_categorical_count,
                                           top_k_categorical_count)
from numbanet.kernels.cpu.activations import (elu_backward, elu_forward, exponential_backward, exponential_forward,
                                              gelu_backward, gelu_forward, hard_sigmoid_backward,
                                              hard_sigmoid_forward, leaky_relu_backward, leaky_relu_forward,
                                              selu_backward, selu_forward, sigmoid_backward, sigmoid_forward,
                                              silu_backward, silu_forward, softplus_backward, softplus_forward,
                                              softsign_backward, softsign_forward, tanh_backward, tanh_forward)
from numbanet.kernels.cpu.adagrad import adagrad_check, adagrad_update
from numbanet.kernels.cpu.adam import adam_amsgrad_check, adam_amsgrad_update, adam_check, adam_update
from numbanet.kernels.cpu.adamax import adamax_check, adamax_update
from numbanet.kernels.cpu.bounds import bounds_check
from numbanet.kernels.cpu.add import add_backward, add_forward
from numbanet.kernels.cpu.batchnorm import (batchnorm_backward, batchnorm_backward_infer, batchnorm_forward_infer,
                                            batchnorm_forward_train, batchnorm_update_moving)
from numbanet.kernels.cpu.binary_crossentropy import binary_crossentropy_forward, binary_crossentropy_fused
from numbanet.kernels.cpu.categorical_hinge import categorical_hinge_backward, categorical_hinge_forward
from numbanet.kernels.cpu.clip import clip_values, scale_values, squared_norm
from numbanet.kernels.cpu.concat import concat_backward, concat_forward
from numbanet.kernels.cpu.confusion import confusion_counts
from numbanet.kernels.cpu.conv2d import col2im, conv2d_backward, conv2d_forward, conv2d_reference, im2col
from numbanet.kernels.cpu.conv2d_pool import conv2d_relu_maxpool_backward, conv2d_relu_maxpool_forward
from numbanet.kernels.cpu.dense import (bias_backward, dense_backward, dense_backward_calls, dense_forward,
                                        dense_forward_call)
from numbanet.kernels.cpu.distillation import distillation_backward, distillation_forward
from numbanet.kernels.cpu.dropout import dropout_backward, dropout_forward
from numbanet.kernels.cpu.gather import gather_rows
from numbanet.kernels.cpu.huber import huber_backward, huber_forward
from numbanet.kernels.cpu.int8_dense import (int8_dense_forward, int8_dense_reference, pack_int8_weights,
                                             quantize_rows, quantize_static)
from numbanet.kernels.cpu.kl_divergence import kl_divergence_backward, kl_divergence_forward
from numbanet.kernels.cpu.layernorm import layernorm_backward, layernorm_forward
from numbanet.kernels.cpu.log_cosh import log_cosh_backward, log_cosh_forward
from numbanet.kernels.cpu.mae import mae_backward, mae_forward
from numbanet.kernels.cpu.mask import apply_mask
from numbanet.kernels.cpu.matmul import gemm, gemm_at, gemm_reference, transpose
from numbanet.kernels.cpu.mse import mse_backward, mse_forward
from numbanet.kernels.cpu.nadam import nadam_check, nadam_update
from numbanet.kernels.cpu.regularizer import regularizer_backward, regularizer_forward
from numbanet.kernels.cpu.relu import relu_backward, relu_forward, relu_mask, relu_mask_call
from numbanet.kernels.cpu.rescale import rescale_backward, rescale_forward
from numbanet.kernels.cpu.rmsprop import rmsprop_check, rmsprop_update
from numbanet.kernels.cpu.sample_weight import scale_rows
from numbanet.kernels.cpu.sgd import sgd_check, sgd_update
from numbanet.kernels.cpu.softmax import softmax_backward, softmax_forward
from numbanet.kernels.cpu.softmax_crossentropy import (
    softmax_crossentropy_backward, softmax_crossentropy_forward, softmax_crossentropy_fused,
    sparse_softmax_crossentropy_backward, sparse_softmax_crossentropy_forward,
    sparse_softmax_crossentropy_fused)
from numbanet.kernels.cpu.pooling import (avg_pool2d_backward, avg_pool2d_forward, global_avg_pool2d_backward,
                                          global_avg_pool2d_forward, global_max_pool2d_backward,
                                          global_max_pool2d_forward, max_pool2d_backward, max_pool2d_forward,
                                          zero_pad2d_backward, zero_pad2d_forward)
