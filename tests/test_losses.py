"""Losses: cross-entropy reads probabilities from a softmax output, or logits when told so."""

import numpy as np
import pytest

import numbanet
from numbanet import layers


def test_crossentropy_needs_softmax_output_unless_from_logits(rng):
    inputs = layers.Input(shape=(4,))
    model = numbanet.Model(inputs, layers.Dense(3)(inputs))
    with pytest.raises(ValueError, match='from_logits=True'):
        model.compile(optimizer='adam', loss='categorical_crossentropy')
    model.compile(optimizer='adam', loss=numbanet.losses.CategoricalCrossentropy(from_logits=True))
    model.fit(rng.standard_normal((8, 4)), np.eye(3)[rng.integers(0, 3, 8)], verbose=0)
