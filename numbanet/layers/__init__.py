"""Layers, one family per file: base (the contract, Input), core (Dense, Dropout, Flatten, Reshape),
activation, normalization, merge."""
from numbanet.layers.activation import ELU, Activation, LeakyReLU, ReLU, Softmax
from numbanet.layers.base import Input, InputLayer, Layer
from numbanet.layers.core import Dense, Dropout, Flatten, Reshape
from numbanet.layers.merge import Add, Concatenate
from numbanet.layers.normalization import BatchNormalization, LayerNormalization

__all__ = ['Activation', 'Add', 'BatchNormalization', 'Concatenate', 'Dense', 'Dropout', 'ELU', 'Flatten', 'Input',
           'InputLayer', 'Layer', 'LayerNormalization', 'LeakyReLU', 'ReLU', 'Reshape', 'Softmax']
