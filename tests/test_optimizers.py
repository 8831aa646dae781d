"""Optimizers' settings, checked when they are made and when compile() looks them up by name."""

import numpy as np
import pytest

import numbanet
from tests.helpers import mlp


@pytest.mark.parametrize('lr', [-0.1, float('nan'), float('inf'), 'fast'])
def test_bad_learning_rate(lr):
    with pytest.raises(ValueError, match='learning_rate'):
        numbanet.optimizers.Adam(learning_rate=lr)
    with pytest.raises(ValueError, match='learning_rate'):
        numbanet.optimizers.SGD(learning_rate=lr)
    opt = numbanet.optimizers.SGD()
    with pytest.raises(ValueError, match='learning_rate'):
        opt.learning_rate = lr
    assert opt.learning_rate == 0.01


def test_bad_optimizer_and_loss_settings():
    with pytest.raises(ValueError, match='momentum'):
        numbanet.optimizers.SGD(momentum=-0.5)
    with pytest.raises(ValueError, match='beta_1'):
        numbanet.optimizers.Adam(beta_1=1.0)
    model = mlp()
    with pytest.raises(ValueError, match='unknown optimizer'):
        model.compile(optimizer='rmsprop', loss='mse')
    with pytest.raises(ValueError, match='unknown loss'):
        model.compile(optimizer='adam', loss='hinge')
    with pytest.raises(ValueError, match='unknown metric'):
        model.compile(optimizer='adam', loss='mse', metrics=['f1'])
    with pytest.raises(ValueError, match='reads integer labels'):
        model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['sparse_categorical_accuracy'])
    with pytest.raises(RuntimeError, match='compiled'):
        mlp().fit(np.zeros((2, 12)), np.zeros((2, 5)))
