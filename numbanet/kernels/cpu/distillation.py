"""Knowledge distillation's loss, on the student's and the teacher's logits:

    loss = alpha * CE(y, softmax(s)) + (1 - alpha) * T^2 * KL(softmax(t / T) || softmax(s / T))

averaged over the batch; its gradient with respect to the student's logits is
alpha * (softmax(s) - y) / B + (1 - alpha) * T * (softmax(s / T) - softmax(t / T)) / B.
The T^2 keeps the soft term's gradient on the scale of the hard one as T grows (Hinton et al., 2015).
"""
import math


from numbanet.kernels.cpu._jit import njit


@njit(cache=True, error_model='numpy')
def _log_softmax_terms(z, b, inv_t):
    # max and log-sum-exp of z[b] / T, for a stable log-softmax.
    C = z.shape[1]
    m = z[b, 0] * inv_t
    for c in range(1, C):
        m = max(m, z[b, c] * inv_t)
    s = 0.0
    for c in range(C):
        s += math.exp(z[b, c] * inv_t - m)
    return m, m + math.log(s)


@njit(cache=True, error_model='numpy')
def distillation_forward(student, teacher, targets, temperature, alpha, weights=None):
    # student, teacher, targets: (B, C); weights: None or (B,). Returns the summed (not mean) loss of the
    # batch, each sample's times its weight when weights are given.
    B, C = student.shape
    inv_t = 1.0 / temperature
    total = 0.0
    for b in range(B):
        _, lse = _log_softmax_terms(student, b, 1.0)
        _, lse_s = _log_softmax_terms(student, b, inv_t)
        _, lse_t = _log_softmax_terms(teacher, b, inv_t)
        hard = 0.0
        soft = 0.0
        for c in range(C):
            hard += targets[b, c] * (lse - student[b, c])
            log_pt = teacher[b, c] * inv_t - lse_t
            log_ps = student[b, c] * inv_t - lse_s
            soft += math.exp(log_pt) * (log_pt - log_ps)
        row = alpha * hard + (1.0 - alpha) * temperature * temperature * soft
        if weights is not None:
            row *= weights[b]
        total += row
    return total


@njit(cache=True, error_model='numpy')
def distillation_backward(dstudent, student, teacher, targets, temperature, alpha):
    # dstudent: (B, C), overwritten with the gradient of the mean loss.
    B, C = student.shape
    inv_t = 1.0 / temperature
    for b in range(B):
        _, lse = _log_softmax_terms(student, b, 1.0)
        _, lse_s = _log_softmax_terms(student, b, inv_t)
        _, lse_t = _log_softmax_terms(teacher, b, inv_t)
        ysum = 0.0
        for c in range(C):
            ysum += targets[b, c]
        for c in range(C):
            p = math.exp(student[b, c] - lse)
            ps = math.exp(student[b, c] * inv_t - lse_s)
            pt = math.exp(teacher[b, c] * inv_t - lse_t)
            dstudent[b, c] = (alpha * (ysum * p - targets[b, c]) + (1.0 - alpha) * temperature * (ps - pt)) / B
