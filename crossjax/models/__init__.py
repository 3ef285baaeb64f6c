"""Flax linen modules: encoders/decoders and the cross-modal models built from them."""

from crossjax.models.autoencoder import MultimodalAutoencoder, SplitAutoencoder, VariationalCCA
from crossjax.models.dcca import DCCA, DCCAE
from crossjax.models.networks import MLP, ConvDecoder, ConvEncoder

__all__ = ['DCCA', 'DCCAE', 'MultimodalAutoencoder', 'SplitAutoencoder', 'VariationalCCA', 'MLP',
           'ConvEncoder', 'ConvDecoder']
