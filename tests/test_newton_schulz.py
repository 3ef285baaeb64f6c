"""The matmul-only Deep CCA objective (Newton-Schulz) against Cholesky + SVD and float64."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from crossjax import families, objectives
from crossjax.configs import common, dccae as dccae_config
from crossjax.models import dcca, networks
from crossjax.train import steps
from crossjax.train.state import create_state

B, D = 256, 8
RIDGE = 1e-4


def _exact_correlations(rng, rho):
  """Views whose D sample canonical correlations all equal rho (repeated), mixed by random
  invertible maps: centred orthonormal columns Q, Z1 = Q_1 A, Z2 = (rho Q_1 + s Q_2) C."""
  q, _ = np.linalg.qr(rng.normal(size=(B, 2 * D)))
  q, _ = np.linalg.qr(q - q.mean(axis=0))
  q *= np.sqrt(B - 1)
  z2 = rho * q[:, :D] + np.sqrt(1 - rho**2) * q[:, D:]
  return q[:, :D] @ rng.normal(size=(D, D)), z2 @ rng.normal(size=(D, D))


def _cases():
  """name -> (z1, z2), float64, all B x D: one compile serves them all (vmap)."""
  rng = np.random.default_rng(0)
  z1 = rng.normal(size=(B, D))
  related = (z1, z1 @ rng.normal(size=(D, D)) + rng.normal(size=(B, D)))
  constant = (z1.copy(), z1 + rng.normal(size=(B, D)))
  constant[0][:, 2] = 3.7  # a dead unit: the ridge keeps its covariance definite
  bfloat16 = tuple(z.astype(jnp.bfloat16).astype(np.float64) for z in related)  # in NumPy
  return {'random': related,
          'repeated': _exact_correlations(rng, 0.5),
          'independent': (rng.normal(size=(B, D)), rng.normal(size=(B, D))),
          'constant_unit': constant,
          'bfloat16_codes': bfloat16,
          'identical': (z1, z1.copy())}  # every correlation 1 - O(ridge)


CASES = _cases()
NAMES = list(CASES)


def _numpy_dcca(z1, z2, ridge):
  """The float64 NumPy formula: the singular values of S11^{-1/2} S12 S22^{-1/2}, summed."""
  c1, c2 = z1 - z1.mean(axis=0), z2 - z2.mean(axis=0)

  def inverse_sqrt(sigma):
    eigenvalues, q = np.linalg.eigh(sigma + ridge * np.eye(len(sigma)))
    return (q / np.sqrt(eigenvalues)) @ q.T

  t = inverse_sqrt(c1.T @ c1 / (B - 1)) @ (c1.T @ c2 / (B - 1)) @ inverse_sqrt(c2.T @ c2 / (B - 1))
  return np.linalg.svd(t, compute_uv=False).sum()


@jax.jit
def _both(z1, z2):
  """Values and gradients of both objectives on every case: one compile per dtype."""
  def value_and_grad(objective):
    return jax.vmap(jax.value_and_grad(lambda a, b: objective(a, b, None, RIDGE, RIDGE),
                                       argnums=(0, 1)))(z1, z2)
  return (value_and_grad(objectives.dcca_objective),
          value_and_grad(objectives.dcca_objective_newton_schulz))


def _run(dtype):
  z1 = jnp.asarray(np.stack([CASES[name][0] for name in NAMES]), dtype)
  z2 = jnp.asarray(np.stack([CASES[name][1] for name in NAMES]), dtype)
  out = {}
  for key, (values, grads) in zip(('cholesky', 'newton_schulz'), _both(z1, z2)):
    values, grads = np.asarray(values, np.float64), [np.asarray(g, np.float64) for g in grads]
    out[key] = {name: (values[i], np.concatenate([g[i].ravel() for g in grads]))
                for i, name in enumerate(NAMES)}
  return out


@pytest.fixture(scope='module')
def float32():
  return _run(jnp.float32)


def _errors(result, reference):
  value, grad = result
  value_ref, grad_ref = reference
  return (abs(value - value_ref) / abs(value_ref),
          np.linalg.norm(grad - grad_ref) / np.linalg.norm(grad_ref))


@pytest.mark.parametrize('name', NAMES)
def test_matches_cholesky_svd_objective_in_float32(float32, name):
  ns, cholesky = float32['newton_schulz'][name], float32['cholesky'][name]
  assert np.isfinite(ns[0]) and np.all(np.isfinite(ns[1]))
  np.testing.assert_allclose(ns[0], _numpy_dcca(*CASES[name], RIDGE), rtol=3e-5)
  value_error, grad_error = _errors(ns, cholesky)
  assert value_error < 1e-4, value_error
  if name == 'identical':
    # At the maximum (all correlations ~1) the gradient nearly cancels, to ~1e-4 of its usual
    # size, and what is left in float32 is partly rounding, in either objective (the float64
    # test below compares them to float64): they agree to 1e-5 of the usual size.
    usual = np.linalg.norm(float32['cholesky']['random'][1])
    assert np.linalg.norm(cholesky[1]) < 1e-3 * usual
    assert np.linalg.norm(ns[1] - cholesky[1]) < 1e-5 * usual
  else:
    assert grad_error < 1e-3, grad_error


@pytest.mark.slow
def test_float64_is_exact_and_float32_no_worse_than_cholesky(float32):
  with jax.enable_x64(True):
    float64 = _run(jnp.float64)
  for name in NAMES:
    ns64, cholesky64 = float64['newton_schulz'][name], float64['cholesky'][name]
    # The math: the NumPy formula's value, the Cholesky + SVD objective's gradient (autodiff
    # through Cholesky, the SVD's U V^T), to rounding.
    np.testing.assert_allclose(ns64[0], _numpy_dcca(*CASES[name], RIDGE), rtol=1e-10)
    value_error, grad_error = _errors(ns64, cholesky64)
    assert value_error < 1e-10 and grad_error < 1e-7, (name, value_error, grad_error)
    # float32 rounding: Newton-Schulz no further from float64 than Cholesky + SVD, give or
    # take 3x (correlations near 1 leave rounding-sized gradients, 'identical').
    ns32, cholesky32 = float32['newton_schulz'][name], float32['cholesky'][name]
    assert _errors(ns32, cholesky64)[1] < 3 * _errors(cholesky32, cholesky64)[1] + 1e-5, name


def test_inverse_sqrt_and_polar_match_numpy():
  rng = np.random.default_rng(1)
  m = rng.normal(size=(6, 6))
  sigma = m @ m.T / 6 + 0.5 * np.eye(6)  # condition number ~10
  tall, wide = rng.normal(size=(6, 4)), rng.normal(size=(4, 6))  # both orders of X X^T X
  low_rank = rng.normal(size=(6, 2)) @ rng.normal(size=(2, 4))
  matrices = [sigma, tall, wide, low_rank, np.zeros((6, 4))]
  got = jax.jit(lambda s, *ts: (objectives.inverse_sqrt_newton_schulz(s),
                                *map(objectives.polar_newton_schulz, ts)))(
      *(jnp.asarray(a, jnp.float32) for a in matrices))
  inverse_sqrt, polar_tall, polar_wide, polar_low_rank, polar_zero = map(np.asarray, got)
  eigenvalues, q = np.linalg.eigh(sigma)
  expected = (q / np.sqrt(eigenvalues)) @ q.T
  np.testing.assert_allclose(inverse_sqrt, expected, atol=1e-5 * np.abs(expected).max())
  for t, polar in ((tall, polar_tall), (wide, polar_wide)):
    u, _, vt = np.linalg.svd(t, full_matrices=False)
    np.testing.assert_allclose(polar, u @ vt, atol=1e-5)
  # A zero singular value stays zero (U_r V_r^T, the trace norm's minimum-norm subgradient),
  # but float32 rounding (~1e-7 ||T||) grows 1.5-fold a step: to ~2e-2 after 30 steps, adding
  # ~1e-9 to the value.
  u, s, vt = np.linalg.svd(low_rank, full_matrices=False)
  np.testing.assert_allclose(polar_low_rank, u[:, :2] @ vt[:2], atol=5e-2)
  np.testing.assert_allclose(np.sum(polar_low_rank * low_rank), s.sum(), rtol=1e-6)
  assert not np.any(polar_zero)


def test_refusals_and_convergence_guard():
  z1, z2 = CASES['random']
  dead = z1.copy()
  dead[:, 0] = 1.0
  z1, z2, dead, large = (jnp.asarray(z, jnp.float32) for z in (z1, z2, dead, 1e4 * dead))
  with pytest.raises(ValueError, match=r'top k=3 .*dcca_objective \(Cholesky \+ SVD\)'):
    objectives.dcca_objective_newton_schulz(z1, z2, k=3)
  with pytest.raises(ValueError, match='between 1 and 8'):
    objectives.dcca_objective_newton_schulz(z1, z2, k=9)
  with pytest.raises(ValueError, match='takes two views'):
    dcca.correlation_objective([z1, z2, z1], 'dcca_newton_schulz', None, RIDGE)
  value, residual = objectives.dcca_objective_newton_schulz(z1, z2, k=D, return_residual=True)
  assert float(residual) < 1e-4 and np.isfinite(float(value))
  # A dead unit without a ridge, then with one too small for the other units' scale
  # (||S||_F / lambda_min ~ 1e12, past float32): both caught.
  with pytest.raises(ValueError, match='view 1 did not converge in 30 iterations.*singular'):
    objectives.dcca_objective_newton_schulz(dead, z2, r1=0.0)
  with pytest.raises(ValueError, match='view 2 did not converge.*larger r2'):
    objectives.dcca_objective_newton_schulz(z2, large, r2=1e-4)


def _views(size=64):
  rng = np.random.default_rng(2)
  x1 = rng.normal(size=(size, 6)).astype(np.float32)
  return {'x1': x1, 'x2': np.tanh(x1 @ rng.normal(size=(6, 5))).astype(np.float32)}


def _check_step(metrics, step):
  assert int(step) == 1
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert float(metrics['newton_schulz_residual']) < objectives.NEWTON_SCHULZ_TOLERANCE
  assert 0 < float(metrics['batch_correlation']) <= 4
  assert float(metrics['grad_norm']) > 0


def test_dcca_model_trains_a_step():
  model = dcca.DCCA(encoders=[networks.MLP(widths=(16,), features=4) for _ in range(2)],
                    objective='dcca_newton_schulz')
  batch = _views()
  # Parameters drawn in NumPy: a jitted Flax init compiles the PRNG (seconds on a CPU).
  shapes = jax.eval_shape(model.init, jax.random.key(0), [batch['x1'], batch['x2']])['params']
  rng = np.random.default_rng(3)
  params = jax.tree.map(
      lambda s: (rng.normal(size=s.shape) / np.sqrt(s.shape[0])).astype(np.float32), shapes)

  @jax.jit
  def first_step(params, batch):
    state = create_state(model, {steps.PLAYER: params}, {steps.PLAYER: optax.adam(1e-3)},
                         jax.random.key(1))
    new_state, metrics = steps.train_step(state, batch)
    return metrics, new_state.step

  metrics, step = first_step(params, batch)
  _check_step(metrics, step)
  assert float(metrics['loss']) == -float(metrics['objective'])


@pytest.mark.slow
def test_dccae_from_its_config_trains_a_step():
  config = dccae_config.get_config()
  config.encoder = config.decoder = common.mlp((16,))
  config.output_dim = 4
  config.objective.name = 'dcca_newton_schulz'
  batch = _views()
  family = families.get('dccae')
  model, players = family.build(config, batch, jax.random.PRNGKey(0))
  assert model.objective == 'dcca_newton_schulz'
  state = create_state(model, players, family.optimizers(config, 10), jax.random.PRNGKey(1))
  new_state, metrics = jax.jit(family.train_step)(state, batch)
  _check_step(metrics, new_state.step)
