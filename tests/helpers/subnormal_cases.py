"""The optimizer updates whose state decays, each as (slots, call): call(k, p, s, g) runs the update from
kernel set k (cpu or cuda) on params p with state slots s and gradients g; call(k, p, s, g, flag) runs its
check instead. Shared by the CPU test and its simulator twin of the subnormal flush (kernels/cpu/_flush.py)."""
from numbanet.kernels.bias_correction import nadam_momentum

LR, B1, B2, EPS = 1e-3, 0.9, 0.999, 1e-7


def _call(update, check, *settings):
    def call(k, p, s, g, flag=None):
        if flag is None:
            return getattr(k, update)(p, *s, g, *settings)
        return getattr(k, check)(flag, p, *s, g, *settings, 1.0)
    return call


def _slots(call, *names):
    def bound(k, p, s, g, flag=None):
        return call(k, p, [s[n] if n is not None else None for n in names], g, flag)
    return names, bound


CASES = {
    'adam': _slots(_call('adam_update', 'adam_check', LR, B1, B2, EPS, 3), 'm', 'v'),
    'amsgrad': _slots(_call('adam_amsgrad_update', 'adam_amsgrad_check', LR, B1, B2, EPS, 3), 'm', 'v', 'v_hat'),
    'adamax': _slots(_call('adamax_update', 'adamax_check', LR, B1, B2, EPS, 3), 'm', 'u'),
    'nadam': _slots(_call('nadam_update', 'nadam_check', LR, B1, B2, EPS, 3,
                          nadam_momentum(B1, 1) * nadam_momentum(B1, 2) * nadam_momentum(B1, 3)), 'm', 'v'),
    'rmsprop': _slots(_call('rmsprop_update', 'rmsprop_check', LR, 0.9, 0.5, EPS), 'velocity', 'moment', 'average'),
    'sgd': _slots(_call('sgd_update', 'sgd_check', LR, 0.5, False), 'velocity'),
    'nesterov': _slots(_call('sgd_update', 'sgd_check', LR, 0.5, True), 'velocity'),
}
# Slots that never shrink: AMSGrad's v_hat keeps the largest second moment seen.
KEPT = {'v_hat'}
