"""Host-side step sizes that the CPU and CUDA optimizer twins share: each is one scalar per step, computed
in float64 from the step count and rounded once when the kernel takes it."""
import math

NADAM_DECAY = 0.96  # Keras's fixed decay of Nadam's momentum schedule


def adam_alpha(lr, beta_1, beta_2, step):
    """Keras's Adam folds both bias corrections into the step size: lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)."""
    return lr * math.sqrt(1.0 - beta_2 ** step) / (1.0 - beta_1 ** step)


def nadam_momentum(beta_1, step):
    """u_t = beta_1 * (1 - 0.5 * 0.96^t), Nadam's momentum schedule."""
    return beta_1 * (1.0 - 0.5 * NADAM_DECAY ** step)


def nadam_coefficients(beta_1, beta_2, step, u_product):
    """(weight of m, weight of g, 1 / sqrt(1 - beta_2^t)) at step t, where u_product = u_1 * ... * u_t:
    m_hat = u_{t+1} m / (1 - u_product u_{t+1}) + (1 - u_t) g / (1 - u_product)."""
    u_next = nadam_momentum(beta_1, step + 1)
    return (u_next / (1.0 - u_product * u_next), (1.0 - nadam_momentum(beta_1, step)) / (1.0 - u_product),
            1.0 / math.sqrt(1.0 - beta_2 ** step))
