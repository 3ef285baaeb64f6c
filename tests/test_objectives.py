"""Objectives against float64 SciPy references, invariances, gradients in degenerate cases."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized
from jax.test_util import check_grads

from crossjax import objectives
from tests import reference


def correlated_views(n=200, d1=6, d2=5, seed=0, dtype=np.float64):
  """Two views sharing a 3-dimensional latent signal, plus noise."""
  rng = np.random.default_rng(seed)
  latent = rng.normal(size=(n, 3))
  x1 = latent @ rng.normal(size=(3, d1)) + 0.7 * rng.normal(size=(n, d1))
  x2 = latent @ rng.normal(size=(3, d2)) + 0.9 * rng.normal(size=(n, d2))
  return x1.astype(dtype), x2.astype(dtype)


class CanonicalCorrelationsTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters((0.0, 0.0, None), (0.1, 0.3, 4), (1e-3, 0.0, 2))
  def test_matches_scipy_generalised_eigenproblem(self, r1, r2, k):
    x1, x2 = correlated_views()
    expected, _, _ = reference.cca(x1, x2, k or 5, r1, r2)
    with jax.enable_x64(True):
      fn = self.variant(lambda a, b: objectives.canonical_correlations(a, b, k, r1, r2))
      got = fn(x1, x2)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)

  def test_float32_close_to_float64(self):
    x1, x2 = correlated_views(dtype=np.float32)
    expected, _, _ = reference.cca(x1.astype(np.float64), x2.astype(np.float64), 5)
    got = objectives.canonical_correlations(x1, x2)
    self.assertEqual(got.dtype, jnp.float32)
    np.testing.assert_allclose(got, expected, atol=2e-5)

  def test_invariances(self):
    x1, x2 = correlated_views()
    with jax.enable_x64(True):
      base = objectives.canonical_correlations(x1, x2)
      perm = np.random.default_rng(1).permutation(len(x1))
      np.testing.assert_allclose(objectives.canonical_correlations(x1[perm], x2[perm]), base,
                                 rtol=1e-10)
      np.testing.assert_allclose(objectives.canonical_correlations(x2, x1), base, rtol=1e-10)
      # An invertible linear map (and a shift) of a view leaves all correlations unchanged.
      mixing = np.random.default_rng(2).normal(size=(6, 6)) + 3 * np.eye(6)
      np.testing.assert_allclose(
          objectives.canonical_correlations(x1 @ mixing + 5.0, x2), base, rtol=1e-8)

  def test_vmap_over_batches(self):
    x1, x2 = correlated_views(n=240)
    with jax.enable_x64(True):
      batched = jax.vmap(lambda a, b: objectives.canonical_correlations(a, b, 3))(
          x1.reshape(4, 60, 6), x2.reshape(4, 60, 5))
      for i in range(4):
        np.testing.assert_allclose(
            batched[i], reference.cca(x1[i * 60:(i + 1) * 60], x2[i * 60:(i + 1) * 60], 3)[0],
            rtol=1e-9)

  def test_singular_covariance_without_ridge_is_a_clear_error(self):
    x1, x2 = correlated_views()
    x1[:, 2] = 1.0  # a constant feature
    with self.assertRaisesRegex(ValueError, 'covariance of view 1 is singular'):
      objectives.canonical_correlations(x1, x2)
    # A ridge makes it well posed; the constant feature then contributes nothing.
    with jax.enable_x64(True):
      got = objectives.canonical_correlations(x1, x2, r1=1e-3, r2=1e-3)
    self.assertTrue(np.all(np.isfinite(got)))


def degenerate_cases():
  """(name, z1, z2, k, r) where the popular Deep CCA gradients break."""
  rng = np.random.default_rng(3)
  z = rng.normal(size=(40, 4))
  orthogonal, _ = np.linalg.qr(rng.normal(size=(4, 4)))
  mixed = z @ orthogonal
  # Repeated correlations: two views that share all directions equally (all rho = 0.8).
  noise = rng.normal(size=(40, 4))
  repeated_1 = z
  repeated_2 = 0.8 * mixed + 0.6 * noise @ orthogonal
  constant = rng.normal(size=(40, 4))
  constant[:, 1] = 2.5
  return [
      ('repeated', repeated_1, repeated_2, None, 1e-3),
      ('independent', rng.normal(size=(40, 4)), rng.normal(size=(40, 3)), None, 1e-3),
      ('batch_smaller_than_dim', rng.normal(size=(6, 10)), rng.normal(size=(6, 8)), None, 1e-2),
      ('constant_unit', constant, rng.normal(size=(40, 4)) + constant[:, :1], None, 1e-3),
      ('top_k', z, 0.5 * mixed + rng.normal(size=(40, 4)), 2, 1e-3),
  ]


@pytest.mark.slow
class DeepCCAGradientTest(parameterized.TestCase):

  @parameterized.named_parameters(*degenerate_cases())
  def test_gradient_matches_finite_differences(self, z1, z2, k, r):
    with jax.enable_x64(True):
      fn = lambda a, b: objectives.dcca_objective(a, b, k, r, r)
      g1, g2 = jax.grad(fn, argnums=(0, 1))(z1, z2)
      self.assertTrue(np.all(np.isfinite(g1)) and np.all(np.isfinite(g2)))
      # Against finite differences jitted: op by op (above) computes the same gradient, and
      # check_grads's many evaluations run ~3x slower that way.
      check_grads(jax.jit(fn), (z1, z2), order=1, modes=['rev'], eps=1e-6, atol=1e-6,
                  rtol=1e-5)

  def test_repeated_correlations_are_repeated(self):
    # Exactly repeated: view 2 is an orthogonal rotation of view 1 (all correlations 1).
    z = np.random.default_rng(4).normal(size=(30, 3))
    rotation, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(3, 3)))
    with jax.enable_x64(True):
      np.testing.assert_allclose(objectives.canonical_correlations(z, z @ rotation), 1.0,
                                 atol=1e-10)
      grads = jax.grad(objectives.dcca_objective)(z, z @ rotation, None, 0.0, 0.0)
    self.assertTrue(np.all(np.isfinite(grads)))
    # At the maximum (all correlations one), the objective cannot increase: zero gradient.
    np.testing.assert_allclose(grads, 0.0, atol=1e-10)

  def test_objective_is_sum_of_top_k_correlations(self):
    x1, x2 = correlated_views()
    with jax.enable_x64(True):
      value = objectives.dcca_objective(x1, x2, 3, 1e-4, 1e-4)
    expected, _, _ = reference.cca(x1, x2, 3, 1e-4, 1e-4)
    np.testing.assert_allclose(value, expected.sum(), rtol=1e-10)


def ey_at_optimum_weights(x1, x2, k):
  """Linear weights at which CCA-EY attains its maximum: unit-variance CCA weights scaled by
  sqrt(rho / 2) (the 1-D optimum of 4 a^2 rho - 4 a^4 is a^2 = rho / 2)."""
  rho, w1, w2 = reference.cca(x1, x2, k)
  return w1 * np.sqrt(rho / 2), w2 * np.sqrt(rho / 2), rho


@pytest.mark.slow
class CCAEYTest(parameterized.TestCase):

  def test_maximum_is_sum_of_squared_correlations(self):
    x1, x2 = correlated_views()
    with jax.enable_x64(True):
      w1, w2, rho = ey_at_optimum_weights(x1, x2, 3)
      at_optimum = objectives.cca_ey_objective([x1 @ w1, x2 @ w2])
      np.testing.assert_allclose(at_optimum, np.sum(rho ** 2), rtol=1e-10)

      # Gradient ascent from a random start climbs to the same value and never above it.
      x1 = (x1 - x1.mean(0)) / x1.std(0)
      x2 = (x2 - x2.mean(0)) / x2.std(0)
      objective = lambda w: objectives.cca_ey_objective([x1 @ w[0], x2 @ w[1]])

      def ascend(weights, _):
        value, grads = jax.value_and_grad(objective)(weights)
        return [w + 0.01 * g for w, g in zip(weights, grads)], value

      rng = np.random.default_rng(6)
      start = [0.1 * rng.normal(size=(6, 3)), 0.1 * rng.normal(size=(5, 3))]
      final, trajectory = jax.lax.scan(ascend, start, length=3000)
      self.assertLessEqual(float(np.max(trajectory)), np.sum(rho ** 2) + 1e-9)
      np.testing.assert_allclose(objective(final), np.sum(rho ** 2), rtol=1e-6)

  def test_unbiased_form_with_one_batch_twice_is_the_biased_form(self):
    x1, x2 = correlated_views(n=50, d1=4, d2=4)
    with jax.enable_x64(True):
      np.testing.assert_allclose(
          objectives.cca_ey_objective_unbiased([x1, x2], [x1, x2]),
          objectives.cca_ey_objective([x1, x2]), rtol=1e-12)

  def test_unbiased_at_small_batches(self):
    # Population: z1, z2 unit variance with correlation 0.6; EY(population) = 4 * 0.6 - 4.
    rho, batch, pairs = 0.6, 4, 20000
    population = 4 * rho - (2.0 ** 2)
    key = jax.random.PRNGKey(0)
    with jax.enable_x64(True):
      def sample(key):
        a, b = jax.random.normal(key, (2, batch, 1), dtype=jnp.float64)
        return [a, rho * a + np.sqrt(1 - rho ** 2) * b]

      def both(key):
        first, second = sample(jax.random.fold_in(key, 0)), sample(jax.random.fold_in(key, 1))
        return (objectives.cca_ey_objective_unbiased(first, second),
                objectives.cca_ey_objective(first))

      unbiased, biased = map(np.asarray, jax.vmap(both)(jax.random.split(key, pairs)))
    standard_error = float(np.std(unbiased) / np.sqrt(pairs))
    self.assertLess(abs(float(np.mean(unbiased)) - population), 4 * standard_error)
    # The one-batch form overestimates ||B||^2 by Var, so it sits well below the population.
    self.assertLess(float(np.mean(biased)), population - 10 * standard_error)

  @parameterized.named_parameters(*degenerate_cases())
  def test_gradients(self, z1, z2, k, r):
    del k, r
    width = min(z1.shape[1], z2.shape[1])
    views = [z1[:, :width], z2[:, :width]]
    with jax.enable_x64(True):
      check_grads(lambda a, b: objectives.cca_ey_objective([a, b]), views, order=1,
                  modes=['rev'], eps=1e-6, atol=1e-6, rtol=1e-5)
      check_grads(lambda a, b: objectives.cca_ey_objective_unbiased([a, b], [b, a]), views,
                  order=1, modes=['rev'], eps=1e-6, atol=1e-6, rtol=1e-5)

  def test_multiview_maximum_is_sum_of_squared_mcca_eigenvalues(self):
    # For m views, EY's maximum is the sum of the top-K squared eigenvalues of the GEP
    # (A, B) with A the off-diagonal covariance blocks and B the diagonal ones.
    rng = np.random.default_rng(7)
    latent = rng.normal(size=(300, 2))
    views = [latent @ rng.normal(size=(2, d)) + rng.normal(size=(300, d)) for d in (4, 3, 5)]
    blocks = reference.covariance_blocks(views, [0, 0, 0])
    a = np.block([[blocks[i][j] if i != j else np.zeros_like(blocks[i][j]) for j in range(3)]
                  for i in range(3)])
    b = np.block([[blocks[i][j] if i == j else np.zeros_like(blocks[i][j]) for j in range(3)]
                  for i in range(3)])
    import scipy.linalg  # pylint: disable=import-outside-toplevel
    values, vectors = scipy.linalg.eigh(a, b)
    top = np.argsort(values)[::-1][:2]
    optimum = vectors[:, top] * np.sqrt(values[top])  # U^T B U = Lambda: the EY optimum
    splits = np.cumsum([4, 3])
    weights = np.split(optimum, splits)
    with jax.enable_x64(True):
      value = objectives.cca_ey_objective([v @ w for v, w in zip(views, weights)])
    np.testing.assert_allclose(value, np.sum(values[top] ** 2), rtol=1e-9)


class MultiViewTest(parameterized.TestCase):

  def test_mcca_eigenvalues_match_scipy(self):
    rng = np.random.default_rng(8)
    latent = rng.normal(size=(150, 2))
    views = [latent @ rng.normal(size=(2, d)) + rng.normal(size=(150, d)) for d in (4, 3, 5)]
    with jax.enable_x64(True):  # jitted: op by op, each operation compiles on its own
      got = jax.jit(objectives.mcca_eigenvalues, static_argnums=1)(views, 4, [0.1, 0.0, 0.2])
    np.testing.assert_allclose(got, reference.mcca_eigenvalues(views, 4, [0.1, 0.0, 0.2]),
                               rtol=1e-10)

  def test_two_view_mcca_is_one_plus_rho(self):
    x1, x2 = correlated_views()
    with jax.enable_x64(True):
      got = objectives.mcca_eigenvalues([x1, x2], 3, r=0.0)
      rho = np.asarray(objectives.canonical_correlations(x1, x2, 3))
    np.testing.assert_allclose(got, 1 + rho, rtol=1e-10)


@pytest.mark.slow
class MultiViewGradientTest(parameterized.TestCase):

  @parameterized.named_parameters(*degenerate_cases())
  def test_gradients(self, z1, z2, k, r):
    with jax.enable_x64(True):
      fn = jax.jit(lambda a, b: objectives.mcca_objective([a, b, a[:, :2] + b[:, :2]], k, r))
      check_grads(fn, (z1, z2), order=1, modes=['rev'], eps=1e-6, atol=1e-6, rtol=1e-5)


class BadInputTest(parameterized.TestCase):

  @parameterized.named_parameters(
      ('different_sample_counts', np.ones((5, 2)), np.ones((6, 2)), {}, 'different sample'),
      ('not_2d', np.ones((5,)), np.ones((5, 2)), {}, '2-D'),
      ('three_d', np.ones((5, 2, 1)), np.ones((5, 2)), {}, '2-D'),
      ('nan', np.full((5, 2), np.nan), np.ones((5, 2)), {}, 'NaN or Inf'),
      ('one_sample', np.ones((1, 2)), np.ones((1, 2)), {}, 'at least 2 samples'),
      ('k_too_large', np.eye(5, 2), np.eye(5, 3), {'k': 3}, 'k=3'),
      ('k_above_n_minus_1', np.eye(3, 4), np.eye(3, 4), {'k': 3}, 'B - 1'),
      ('negative_ridge', np.eye(5, 2), np.eye(5, 2), {'r1': -1.0}, 'r1 must be'),
  )
  def test_canonical_correlations(self, z1, z2, kwargs, message):
    with self.assertRaisesRegex(ValueError, message):
      objectives.canonical_correlations(z1, z2, **kwargs)

  def test_shape_errors_raise_under_jit_too(self):
    with self.assertRaisesRegex(ValueError, 'different sample counts'):
      jax.jit(objectives.dcca_objective)(np.ones((5, 2)), np.ones((6, 2)))

  def test_ey_needs_equal_widths(self):
    with self.assertRaisesRegex(ValueError, 'one width'):
      objectives.cca_ey_objective([np.eye(5, 2), np.eye(5, 3)])


class TensorCCATest(parameterized.TestCase):
  """Deep tensor CCA's ||M||_F^2 against the explicit tensor in float64."""

  @staticmethod
  def explicit(views, r):
    """M formed entry by entry from views whitened by the symmetric (Sigma + r I)^{-1/2}."""
    whitened = []
    for view in views:
      centred = view - view.mean(axis=0)
      sigma = centred.T @ centred / (len(view) - 1) + r * np.eye(view.shape[1])
      values, vectors = np.linalg.eigh(sigma)
      whitened.append(centred @ (vectors / np.sqrt(values)) @ vectors.T)
    letters = 'abcdef'[:len(views)]
    tensor = np.einsum(','.join(f'n{c}' for c in letters) + '->' + letters, *whitened)
    return np.sum((tensor / (len(views[0]) - 1)) ** 2)

  def test_matches_the_explicit_tensor_and_is_squared_correlations_for_two_views(self):
    rng = np.random.default_rng(3)
    latent = rng.gamma(2.0, size=(120, 2))  # skewed: third moments that a tensor can see
    views = [latent @ rng.normal(size=(2, d)) + rng.normal(size=(120, d)) for d in (4, 3, 5)]
    with jax.enable_x64(True):
      got = jax.jit(objectives.tensor_cca_objective)(views, 0.1)
      two = jax.jit(objectives.tensor_cca_objective)(views[:2], 0.0)
      rho = np.asarray(jax.jit(objectives.canonical_correlations)(views[0], views[1]))
    np.testing.assert_allclose(got, self.explicit(views, 0.1), rtol=1e-10)
    np.testing.assert_allclose(two, np.sum(rho ** 2), rtol=1e-10)

  def test_four_devices_see_the_global_batch(self):
    from crossjax.train import parallel  # pylint: disable=import-outside-toplevel
    rng = np.random.default_rng(4)
    views = [rng.normal(size=(32, d)).astype(np.float32) for d in (3, 4, 2)]
    loss = jax.jit(jax.value_and_grad(lambda *v: objectives.tensor_cca_objective(v, 1e-3),
                                      argnums=(0, 1, 2)))
    expected, expected_grads = loss(*views)
    sharding = parallel.batch_sharded(parallel.data_mesh())
    value, grads = loss(*[jax.device_put(v, sharding) for v in views])
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    for g, e in zip(grads, expected_grads):
      np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
class TensorCCAGradientTest(parameterized.TestCase):

  @parameterized.named_parameters(*[case for case in degenerate_cases()
                                    if case[0] in ('repeated', 'batch_smaller_than_dim',
                                                   'constant_unit')])
  def test_gradients(self, z1, z2, k, r):
    del k
    with jax.enable_x64(True):
      fn = jax.jit(lambda a, b: objectives.tensor_cca_objective([a, b, a[:, :2] + b[:, :2]],
                                                                max(r, 1e-3)))
      self.assertTrue(np.isfinite(fn(z1, z2)))
      check_grads(fn, (z1, z2), order=1, modes=['rev'], eps=1e-6, atol=1e-6, rtol=1e-5)


def test_whitening_by_cholesky_where_the_floor_allows_else_by_eigh():
  rng = np.random.default_rng(0)
  a = rng.normal(size=(30, 6))
  sigma = a.T @ a / 29
  rank_deficient = sigma.copy()
  rank_deficient[:, 5] = rank_deficient[5, :] = 0.0
  whiten = jax.jit(objectives.whitening)
  with jax.enable_x64(True):
    regularised = 0.9 * sigma + 0.1 * np.eye(6)
    by_cholesky = np.asarray(whiten(regularised, 0.1))
    np.testing.assert_allclose(by_cholesky.T @ regularised @ by_cholesky, np.eye(6), atol=1e-12)
    np.testing.assert_allclose(np.tril(by_cholesky, -1), 0.0)  # L^{-T}: upper triangular
    # No floor (CCA, r = c = 0): the pseudo-inverse square root, which drops the null direction.
    np.testing.assert_allclose(whiten(rank_deficient, 0.0),
                               objectives.inverse_sqrt_psd(rank_deficient), atol=1e-12)
    # A floor the matrix does not have: the factor is not finite, and eigh answers.
    np.testing.assert_allclose(whiten(rank_deficient, 1.0),
                               objectives.inverse_sqrt_psd(rank_deficient), atol=1e-12)
