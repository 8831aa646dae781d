"""Optimizers and learning-rate schedules: Keras 3's update rules over 20 steps (with clipping, weight decay
and schedules, around a frozen weight), their settings checked when made, and saving a model with each."""
import math

import numpy as np
import pytest

import numbanet
from numbanet.kernels import cpu
from numbanet.models import load_model
from numbanet.optimizers import schedules
from numbanet.params import Parameters, Weight
from tests.helpers import blobs, mlp, residual
from tests.helpers.keras_optimizers import KerasOptimizer

opt = numbanet.optimizers
SHAPES = [(7, 5), (5,), (3, 11), (11,)]  # the third stays frozen
OPTIONS = ('clipnorm', 'clipvalue', 'global_clipnorm', 'weight_decay')

# (optimizer, Keras reference kind, the reference's settings)
CASES = {
    'sgd': (lambda: opt.SGD(0.05, clipnorm=1.0), 'sgd', dict(learning_rate=0.05, clipnorm=1.0)),
    'sgd-nesterov': (lambda: opt.SGD(0.05, momentum=0.9, nesterov=True, global_clipnorm=2.0), 'sgd',
                     dict(learning_rate=0.05, momentum=0.9, nesterov=True, global_clipnorm=2.0)),
    'rmsprop': (lambda: opt.RMSprop(0.01, weight_decay=0.5), 'rmsprop', dict(learning_rate=0.01, weight_decay=0.5)),
    'rmsprop-centered-momentum': (lambda: opt.RMSprop(0.01, rho=0.8, momentum=0.5, centered=True, clipvalue=0.3),
                                  'rmsprop', dict(learning_rate=0.01, rho=0.8, momentum=0.5, centered=True,
                                                  clipvalue=0.3)),
    'adagrad': (lambda: opt.Adagrad(0.05, initial_accumulator_value=0.5, clipnorm=1.0), 'adagrad',
                dict(learning_rate=0.05, initial_accumulator_value=0.5, clipnorm=1.0)),
    'adam': (lambda: opt.Adam(0.01, beta_2=0.99), 'adam', dict(learning_rate=0.01, beta_2=0.99)),
    'adam-amsgrad': (lambda: opt.Adam(0.01, amsgrad=True, clipvalue=0.5), 'adam',
                     dict(learning_rate=0.01, amsgrad=True, clipvalue=0.5)),
    'adamw': (lambda: opt.AdamW(0.01, weight_decay=0.5), 'adam', dict(learning_rate=0.01, weight_decay=0.5)),
    'adamax': (lambda: opt.Adamax(0.01, beta_1=0.8, clipvalue=0.5), 'adamax',
               dict(learning_rate=0.01, beta_1=0.8, clipvalue=0.5)),
    'nadam': (lambda: opt.Nadam(0.01, weight_decay=0.5), 'nadam', dict(learning_rate=0.01, weight_decay=0.5)),
    'adam-schedule': (lambda: opt.Adam(schedules.ExponentialDecay(0.02, 5, 0.5)), 'adam',
                      dict(learning_rate=lambda t: 0.02 * 0.5 ** (t / 5))),
    'sgd-callable': (lambda: opt.SGD(lambda t: 0.1 / (1 + t), momentum=0.5), 'sgd',
                     dict(learning_rate=lambda t: 0.1 / (1 + t), momentum=0.5)),
}


def _store(rng):
    weights = [Weight(f'w{i}', shape, lambda s, r: r.standard_normal(s)) for i, shape in enumerate(SHAPES)]
    store = Parameters('cpu')
    store.bind(weights, rng)
    return store, weights


def _run(optimizer, ref_kind, ref_settings, rng, steps=20):
    """(numbanet's trained weights, Keras's, the frozen weight before and after)."""
    store, weights = _store(rng)
    frozen = {id(weights[2])}
    optimizer.build(store, store.ranges(frozen))
    ref = KerasOptimizer(ref_kind, **ref_settings)
    want = [w.numpy().astype(np.float64) for w in weights if id(w) not in frozen]
    before = weights[2].numpy()
    for _ in range(steps):
        grads = [(rng.standard_normal(w.shape) * 2).astype(np.float32) for w in weights]
        for w, g in zip(weights, grads):
            w.grad[...] = g
        optimizer.apply(cpu)
        ref.step(want, [g for w, g in zip(weights, grads) if id(w) not in frozen])
    return [w.numpy() for w in weights if id(w) not in frozen], want, (before, weights[2].numpy())


@pytest.mark.parametrize('case', sorted(CASES))
def test_optimizer_matches_keras_over_20_steps(case):
    make, kind, settings = CASES[case]
    got, want, (frozen_before, frozen_after) = _run(make(), kind, settings, np.random.default_rng(5))
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)
    np.testing.assert_array_equal(frozen_after, frozen_before)
    if any(o in settings for o in OPTIONS):  # and the clipping or decay mattered
        plain = {k: v for k, v in settings.items() if k not in OPTIONS}
        _, unclipped, _ = _run(make(), kind, plain, np.random.default_rng(5))
        assert max(np.max(np.abs(a - b)) for a, b in zip(got, unclipped)) > 1e-3


def test_nadam_continues_after_its_step_count_jumps():
    # Its momentum product follows from the step count: a state loaded at step 7 continues as if trained there.
    a, b = opt.Nadam(0.01), opt.Nadam(0.01)
    rng = np.random.default_rng(0)
    stores = [_store(np.random.default_rng(1))[0] for _ in range(2)]
    for o, s in zip((a, b), stores):
        o.build(s, [(0, s.values.shape[0])])
    for _ in range(7):
        stores[0].grads[:] = rng.standard_normal(stores[0].grads.shape[0])
        a.apply(cpu)
    stores[1].values[:] = stores[0].values
    b.load_state({k: v.copy() for k, v in a.state_arrays().items()}, a.iterations)
    g = rng.standard_normal(stores[0].grads.shape[0])
    for o, s in zip((a, b), stores):
        s.grads[:] = g
        o.apply(cpu)
    np.testing.assert_array_equal(stores[0].values, stores[1].values)


# ---- settings ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('lr', [-0.1, float('nan'), float('inf'), 'fast', None])
@pytest.mark.parametrize('cls', sorted(opt.CLASSES))
def test_bad_learning_rate(cls, lr):
    with pytest.raises(ValueError, match='learning_rate'):
        opt.CLASSES[cls](learning_rate=lr)
    o = opt.CLASSES[cls]()
    with pytest.raises(ValueError, match='learning_rate'):
        o.learning_rate = lr
    assert o.learning_rate == opt.CLASSES[cls]().learning_rate


@pytest.mark.parametrize('make,match', [
    (lambda: opt.SGD(momentum=-0.5), 'momentum'), (lambda: opt.Adam(beta_1=1.0), 'beta_1'),
    (lambda: opt.Adam(beta_2=-0.1), 'beta_2'), (lambda: opt.Adam(epsilon=float('nan')), 'epsilon'),
    (lambda: opt.RMSprop(rho=1.5), 'rho'), (lambda: opt.RMSprop(momentum=1.0), 'momentum'),
    (lambda: opt.Adagrad(initial_accumulator_value=-1), 'initial_accumulator_value'),
    (lambda: opt.Adamax(beta_2=2), 'beta_2'), (lambda: opt.Nadam(beta_1='0.9'), 'beta_1'),
    (lambda: opt.AdamW(weight_decay=None), 'weight_decay'), (lambda: opt.SGD(weight_decay=-1e-4), 'weight_decay'),
    (lambda: opt.Adam(clipnorm=0.0), 'clipnorm'), (lambda: opt.Adam(clipvalue=float('inf')), 'clipvalue'),
    (lambda: opt.Adam(global_clipnorm=-1), 'global_clipnorm'),
    (lambda: opt.Adam(clipnorm=1.0, clipvalue=0.5), r'only one of .*clipnorm=1.0, clipvalue=0.5'),
    (lambda: opt.SGD(learning_rate=lambda: 0.1), 'must take the step'),
    (lambda: opt.SGD(learning_rate=lambda step: -1.0), r'gives at step 0 must be a finite number >= 0, got -1.0'),
])
def test_bad_settings_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize('cls', ['Adam', 'AdamW', 'Adamax', 'Nadam', 'RMSprop', 'Adagrad'])
def test_an_epsilon_of_zero_is_refused_before_it_makes_nan_weights(cls):
    # Adam(epsilon=0) once trained a weight with a zero gradient to NaN: 0 / (sqrt(0) + 0).
    with pytest.raises(ValueError, match=r'epsilon must be a finite number > 0.*got 0'):
        opt.CLASSES[cls](epsilon=0)
    store, _ = _store(np.random.default_rng(0))
    o = opt.CLASSES[cls](epsilon=1e-30)  # a tiny positive epsilon keeps a zero gradient finite
    o.build(store, [(0, store.values.shape[0])])
    store.grads[:] = 0.0
    o.apply(cpu)
    assert np.isfinite(store.values).all()


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match='clip_norm'):
        opt.Adam(clip_norm=1.0)


def test_numpy_numbers_are_accepted():
    o = opt.AdamW(np.float32(0.5), weight_decay=np.float64(0.01), beta_1=np.float32(0.5), clipnorm=np.int64(2))
    assert (o.learning_rate, o.beta_1, o.clipnorm) == (0.5, 0.5, 2.0)
    o.learning_rate = np.float32(0.25)
    assert o.learning_rate == 0.25 and type(o.learning_rate) is float


def test_get_by_name():
    for name, cls in [('adam', opt.Adam), ('SGD', opt.SGD), ('rmsprop', opt.RMSprop), ('adamw', opt.AdamW),
                      ('adagrad', opt.Adagrad), ('adamax', opt.Adamax), ('Nadam', opt.Nadam)]:
        assert type(opt.get(name)) is cls
    with pytest.raises(ValueError, match="unknown optimizer 'adadelta'.*'nadam'"):
        opt.get('adadelta')


def test_compile_refusals_name_the_argument():
    model = mlp()
    with pytest.raises(ValueError, match='unknown optimizer'):
        model.compile(optimizer='lion', loss='mse')
    with pytest.raises(ValueError, match='unknown loss'):
        model.compile(optimizer='adam', loss='hinge')
    with pytest.raises(ValueError, match='unknown metric'):
        model.compile(optimizer='adam', loss='mse', metrics=['f1'])
    with pytest.raises(ValueError, match='reads integer labels'):
        model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['sparse_categorical_accuracy'])
    with pytest.raises(RuntimeError, match='compiled'):
        mlp().fit(np.zeros((2, 12)), np.zeros((2, 5)))


# ---- learning rates and schedules ---------------------------------------------------------------------------------
def test_learning_rate_reads_the_schedule_and_a_number_replaces_it(rng):
    model = mlp()
    schedule = schedules.PiecewiseConstantDecay([1], [0.1, 0.01])
    model.compile(optimizer=opt.SGD(schedule), loss='sparse_categorical_crossentropy')
    x, y = blobs(rng, n=8)
    assert model.optimizer.learning_rate == 0.1 and model.optimizer.schedule is schedule
    for want in (0.1, 0.1, 0.01):  # steps 0 and 1 are within the first boundary
        assert model.optimizer.learning_rate == want
        model.train_on_batch(x, y)
    model.optimizer.learning_rate = 0.0
    assert model.optimizer.schedule is None
    before = model.get_weights()
    model.train_on_batch(x, y)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.get_config()['learning_rate'] == 0.0 and model.optimizer.iterations == 4


def test_a_schedule_that_turns_bad_stops_the_step_before_it_changes_anything():
    o = opt.SGD(lambda step: 0.1 if step < 1 else float('nan'))
    store, _ = _store(np.random.default_rng(0))
    o.build(store, [(0, store.values.shape[0])])
    store.grads[:] = 1.0
    o.apply(cpu)
    values = store.values.copy()
    with pytest.raises(ValueError, match='gives at step 1 must be a finite number >= 0, got nan'):
        o.apply(cpu)
    np.testing.assert_array_equal(store.values, values)
    assert o.iterations == 1


@pytest.mark.parametrize('schedule,values', [
    (schedules.ExponentialDecay(0.1, 10, 0.5), {0: 0.1, 5: 0.1 * 0.5 ** 0.5, 30: 0.0125}),
    (schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True), {9: 0.1, 10: 0.05, 25: 0.025}),
    (schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1]), {0: 1.0, 10: 1.0, 11: 0.5, 20: 0.5, 21: 0.1}),
    (schedules.InverseTimeDecay(0.1, 5, 0.5), {0: 0.1, 10: 0.05, 3: 0.1 / 1.3}),
    (schedules.InverseTimeDecay(0.1, 5, 0.5, staircase=True), {4: 0.1, 5: 0.1 / 1.5}),
    (schedules.CosineDecay(0.1, 100, alpha=0.1), {0: 0.1, 50: 0.055, 100: 0.01, 500: 0.01}),
    (schedules.CosineDecay(0.0, 100, warmup_target=0.2, warmup_steps=10),
     {0: 0.0, 5: 0.1, 10: 0.2, 60: 0.1, 110: 0.0, 200: 0.0}),
    (schedules.PolynomialDecay(0.1, 10, 0.01, power=2.0), {0: 0.1, 5: 0.0325, 10: 0.01, 20: 0.01}),
    (schedules.PolynomialDecay(0.1, 10, 0.01, cycle=True), {0: 0.1, 10: 0.01, 15: 0.09 * 0.25 + 0.01}),
])
def test_schedules_follow_keras_formulas(schedule, values):
    for step, want in values.items():
        assert schedule(step) == pytest.approx(want, rel=1e-12, abs=1e-15), step
    again = schedules.deserialize(schedules.serialize(schedule))
    assert type(again) is type(schedule) and again.get_config() == schedule.get_config()


@pytest.mark.parametrize('make,match', [
    (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), r'decay_steps must be a finite number > 0, got 0'),
    (lambda: schedules.ExponentialDecay(-0.1, 10, 0.5), 'initial_learning_rate .* got -0.1'),
    (lambda: schedules.ExponentialDecay(0.1, 10, 0.5, staircase='yes'), "staircase .* got 'yes'"),
    (lambda: schedules.InverseTimeDecay(0.1, 10, float('nan')), 'decay_rate .* got nan'),
    (lambda: schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5]), r'one longer, got boundaries=\[10, 20\]'),
    (lambda: schedules.PiecewiseConstantDecay([20, 10], [1.0, 0.5, 0.1]), r'increase strictly, got \[20, 10\]'),
    (lambda: schedules.PiecewiseConstantDecay([10], [1.0, -0.5]), 'each value .* got -0.5'),
    (lambda: schedules.CosineDecay(0.1, 100, alpha=1.5), 'alpha .* got 1.5'),
    (lambda: schedules.CosineDecay(0.1, 100, warmup_steps=-1), 'warmup_steps .* got -1'),
    (lambda: schedules.PolynomialDecay(0.1, 10, power=-1.0), 'power .* got -1.0'),
])
def test_bad_schedule_arguments_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ---- saving ---------------------------------------------------------------------------------------------------
ROUND_TRIPS = {
    'adam-amsgrad': lambda: opt.Adam(0.01, amsgrad=True),
    'rmsprop': lambda: opt.RMSprop(0.01, momentum=0.5, centered=True, clipnorm=1.0),
    'adagrad': lambda: opt.Adagrad(0.05),
    'adamw': lambda: opt.AdamW(0.01, weight_decay=0.05),
    'adamax': lambda: opt.Adamax(schedules.InverseTimeDecay(0.02, 2, 0.5), global_clipnorm=1.0),
    'nadam': lambda: opt.Nadam(schedules.CosineDecay(0.01, 20, warmup_target=0.02, warmup_steps=3)),
    'sgd': lambda: opt.SGD(schedules.PiecewiseConstantDecay([3], [0.1, 0.05]), momentum=0.9, clipvalue=0.5),
    'sgd-poly': lambda: opt.SGD(schedules.PolynomialDecay(0.1, 4, cycle=True), weight_decay=0.01),
    'adam-exp': lambda: opt.Adam(schedules.ExponentialDecay(0.01, 3, 0.7, staircase=True)),
}


@pytest.mark.parametrize('case', sorted(ROUND_TRIPS))
def test_saved_model_continues_training_identically(tmp_path, rng, case):
    model = residual()
    model.compile(optimizer=ROUND_TRIPS[case](), loss='sparse_categorical_crossentropy')
    x = rng.standard_normal((60, 6)).astype(np.float32)
    y = rng.integers(0, 3, 60)
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / 'm.safetensors')
    loaded = load_model(tmp_path / 'm.safetensors')
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 4
    assert loaded.optimizer.learning_rate == model.optimizer.learning_rate
    for slot, array in model.optimizer.state_for(model.parameters).items():
        np.testing.assert_array_equal(loaded.optimizer.state_for(loaded.parameters)[slot], array)
    model.fit(x, y, epochs=2, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_plain_callable_learning_rate_cannot_be_saved(tmp_path, rng):
    model = residual()
    model.compile(optimizer=opt.Adam(lambda step: 0.01 * math.exp(-step)), loss='sparse_categorical_crossentropy')
    model.fit(rng.standard_normal((8, 6)).astype(np.float32), rng.integers(0, 3, 8), verbose=0)
    with pytest.raises(ValueError, match='plain callable, which cannot be saved'):
        model.save(tmp_path / 'm.safetensors')
    assert not (tmp_path / 'm.safetensors').exists()
