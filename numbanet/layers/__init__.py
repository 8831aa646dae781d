"""Layers, one family per file: base (the contract, Input), core (Dense), activation, merge."""
from numbanet.layers.activation import Activation, ReLU, Softmax
from numbanet.layers.base import Input, InputLayer, Layer
from numbanet.layers.core import Dense
from numbanet.layers.merge import Add, Concatenate

__all__ = ['Activation', 'Add', 'Concatenate', 'Dense', 'Input', 'InputLayer', 'Layer', 'ReLU', 'Softmax']
