"""Layers, one family per file: base (the contract, Input), core (Dense, Dropout, Flatten, Reshape),
activation, normalization, merge, convolutional (Conv1D, Conv2D),
pooling (pooling, zero padding), preprocessing (Rescaling)."""
from numbanet.layers.activation import ELU, Activation, LeakyReLU, ReLU, Softmax
from numbanet.layers.base import Input, InputLayer, Layer
from numbanet.layers.convolutional import Conv1D, Conv2D
from numbanet.layers.core import Dense, Dropout, Flatten, Reshape
from numbanet.layers.merge import Add, Concatenate
from numbanet.layers.normalization import BatchNormalization, LayerNormalization
from numbanet.layers.pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D,
                                     GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D,
                                     MaxPooling2D, ZeroPadding2D)
from numbanet.layers.preprocessing import Rescaling

__all__ = ['Activation', 'Add', 'AveragePooling1D', 'AveragePooling2D', 'BatchNormalization', 'Concatenate',
           'Conv1D', 'Conv2D', 'Dense', 'Dropout', 'ELU', 'Flatten', 'GlobalAveragePooling1D',
           'GlobalAveragePooling2D', 'GlobalMaxPooling1D', 'GlobalMaxPooling2D', 'Input', 'InputLayer', 'Layer',
           'LayerNormalization', 'LeakyReLU', 'MaxPooling1D', 'MaxPooling2D', 'ReLU', 'Rescaling', 'Reshape',
           'Softmax', 'ZeroPadding2D']
