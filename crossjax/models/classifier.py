"""A digit classifier: the judge of generated and completed images (conditional accuracy,
transfer accuracy, classifier features)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax


class Classifier(nn.Module):
  """network: (B, D) -> (B, num_classes) logits, trained with softmax cross-entropy on
  batch[view] (the images it judges) and batch['labels']."""
  network: nn.Module
  view: str = 'x1'

  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    return self.network(x, train)

  def loss(self, batch: dict, train: bool = False) -> tuple[jax.Array, dict]:
    logits = self(batch[self.view], train)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch['labels']).mean()
    accuracy = jnp.mean(jnp.argmax(logits, axis=-1) == batch['labels'])
    return loss, {'accuracy': accuracy}
