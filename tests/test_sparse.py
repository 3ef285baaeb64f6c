"""Sparse CCA (crossjax.sparse) against independent float64 references: Witten et al.'s PMD
with the threshold found by root bracketing (scipy), PLS-SVD (np.linalg.svd) and elastic-net
CCA with scikit-learn's ElasticNet for every regression.

Every test fits views of one shape (n = 1000, d = (40, 30)), so that the fast tier compiles
three jitted fits: PMD with k = 1 (single and a 10 x 10 grid) and elastic-net CCA with k = 2.
"""

import warnings

import jax
import numpy as np
import pytest
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet

from crossjax import data, linear, sparse
from tests import reference


N, D1, D2 = 1000, 40, 30


def reference_views():
  """Two components (rho 0.9, 0.7) with 5 active features each."""
  return data.simulate(N, (D1, D2), (0.9, 0.7), active_features=5, seed=0).views


def assert_same_up_to_sign(a, b, **tolerance):
  signs = np.sign(np.sum(a * b, axis=0))
  np.testing.assert_allclose(a * signs, b, **tolerance)


# ---------------------------------------------------------------------------- references


def soft(a, threshold):
  return np.sign(a) * np.maximum(np.abs(a) - threshold, 0.0)


def witten_update(a, c):
  """S(a, delta) / ||S(a, delta)||_2 with delta = 0 if ||.||_1 <= c, else the root of
  ||S||_1 / ||S||_2 = c (Witten et al. 2009, Algorithm 3), by Brent's method."""
  norm = np.linalg.norm(a)
  if np.abs(a).sum() <= c * norm:
    return a / norm

  def excess(delta):
    s = soft(a, delta)
    s_norm = np.linalg.norm(s)
    return (np.abs(s).sum() / s_norm if s_norm > 0 else 0.0) - c

  delta = scipy.optimize.brentq(excess, 0.0, np.abs(a).max(), xtol=1e-15,
                                rtol=4 * np.finfo(float).eps)
  s = soft(a, delta)
  return s / np.linalg.norm(s)


def witten_pmd(x1, x2, k, c1, c2, tol=1e-12):
  """PMD(L1, L1) as in the paper and PMA: a naive loop on C = X1c^T X2c from its singular
  pairs (component j from the j-th), deflating C <- C - d u v^T."""
  c = (x1 - x1.mean(0)).T @ (x2 - x2.mean(0))
  left, _, right_t = np.linalg.svd(c)
  us, vs = [], []
  for j in range(k):
    u, v = left[:, j], right_t[j]
    for _ in range(10000):
      u_new = witten_update(c @ v, c1)
      v_new = witten_update(c.T @ u_new, c2)
      change = max(np.linalg.norm(u_new - u), np.linalg.norm(v_new - v))
      u, v = u_new, v_new
      if change < tol:
        break
    c = c - (u @ c @ v) * np.outer(u, v)
    us.append(u)
    vs.append(v)
  return np.stack(us, 1), np.stack(vs, 1)


def elastic_net_cca(x1, x2, k, alphas, ratios, tol):
  """Waaijenborg et al.'s alternating elastic-net regressions with scikit-learn's ElasticNet
  (coordinate descent), each view deflated by its variate (as cca_zoo's IPLSCCA)."""
  views = [x1 - x1.mean(0), x2 - x2.mean(0)]
  left, _, right_t = np.linalg.svd(views[0].T @ views[1])
  weights = [np.zeros((v.shape[1], k)) for v in views]
  loadings = [np.zeros((v.shape[1], k)) for v in views]
  for j in range(k):
    w = [left[:, j], right_t[j]]
    for _ in range(10000):
      old = [a.copy() for a in w]
      for i in (0, 1):
        target = views[1 - i] @ w[1 - i]
        model = ElasticNet(alpha=alphas[i], l1_ratio=ratios[i], fit_intercept=False,
                           tol=1e-12, max_iter=100000)
        coef = model.fit(views[i], target / target.std()).coef_
        w[i] = coef / (views[i] @ coef).std()
      if max(np.linalg.norm(a - b) for a, b in zip(w, old)) < tol:
        break
    for i in (0, 1):
      t = views[i] @ w[i]
      weights[i][:, j] = w[i]
      loadings[i][:, j] = views[i].T @ t / (t @ t)
      views[i] = views[i] - np.outer(t, t @ views[i]) / (t @ t)
  return [w @ np.linalg.pinv(p.T @ w) for w, p in zip(weights, loadings)]


def support_f1(true, estimated):
  true, estimated = true != 0, np.asarray(estimated) != 0
  return 2 * np.sum(true & estimated) / (np.sum(true) + np.sum(estimated))


# ---------------------------------------------------------------------------------- PMD


def check_pmd_against_references(x1, x2, k):
  """PMD with binding bounds (1.8, 1.6) against the bisection reference, and with no binding
  bound (c = sqrt(d)) against PLS-SVD: the top singular pairs of X1c^T X2c."""
  centred = [x1 - x1.mean(0), x2 - x2.mean(0)]
  params = sparse.fit_pmd(x1, x2, k, 1.8, 1.6, tol=1e-12)
  u, v = witten_pmd(x1, x2, k, 1.8, 1.6)
  assert np.count_nonzero(u) < u.size / 2 and np.count_nonzero(v) < v.size / 2
  assert_same_up_to_sign(np.asarray(params.weights[0]), u, atol=1e-9)
  assert_same_up_to_sign(np.asarray(params.weights[1]), v, atol=1e-9)
  np.testing.assert_allclose(np.abs(params.weights[0]).sum(0), 1.8, rtol=1e-12)
  np.testing.assert_allclose(np.linalg.norm(params.weights[1], axis=0), 1.0, rtol=1e-12)
  np.testing.assert_allclose(params.correlations,
                             reference.correlations_of(centred[0] @ u, centred[1] @ v),
                             rtol=1e-9)
  assert params.converged.all() and np.all(params.iterations > 1)
  assert [float(c) for c in params.penalties] == [1.8, 1.6]
  z1, _ = linear.transform(params, x1, x2)
  np.testing.assert_allclose(z1, centred[0] @ np.asarray(params.weights[0]), atol=1e-12)

  plain = sparse.fit_pmd(x1, x2, k, np.sqrt(D1), np.sqrt(D2), tol=1e-12)
  left, _, right_t = np.linalg.svd(centred[0].T @ centred[1])
  assert_same_up_to_sign(np.asarray(plain.weights[0]), left[:, :k], atol=1e-9)
  assert_same_up_to_sign(np.asarray(plain.weights[1]), right_t[:k].T, atol=1e-9)
  return params


def test_pmd_matches_witten_and_pls_svd_and_warns_when_cut_short():
  """One component (the deflation of later ones: the slow test)."""
  x1, x2 = reference_views()
  with jax.enable_x64(True):
    check_pmd_against_references(x1, x2, 1)
    with pytest.warns(ConvergenceWarning, match=(
        r'fit_pmd: component\(s\) \[1\] of 1 did not converge after 1 iterations '
        r'\(tol=1e-06, max_iter=1\); raise max_iter')):
      cut = sparse.fit_pmd(x1, x2, 1, 1.8, 1.6, max_iter=1)
    assert not cut.converged.any() and np.all(cut.iterations == 1)


@pytest.mark.slow
def test_pmd_support_recovery_grid_and_penalty_selection():
  """n = 1000, d = (40, 30), s = 5 active features per view, one canonical correlation
  rho = 0.9 (`data.simulate`, seed 0: smallest active weights 0.22 and 0.20), k = 1.

  With each L1 bound in the middle of the noise-free recovery window (from the bound of
  S(w, min |w|) to that of w), PMD recovers both supports exactly (F1 >= 0.95). The default
  K-fold choice keeps every active feature (recall 1) but, as held-out correlation prefers a
  bound just above the window, adds features with small weights: only its recall is asserted.
  """
  simulated = data.simulate(N, (D1, D2), (0.9,), active_features=5, seed=0)
  x1, x2 = simulated.views
  truth = [w[:, 0] for w in simulated.weights]

  def ratio(a):
    return np.abs(a).sum() / np.linalg.norm(a)

  def middle_of_window(w):
    w = np.abs(w[w != 0])
    return (ratio(w - w.min()) + ratio(w)) / 2

  with jax.enable_x64(True):
    recovered = sparse.fit_pmd(x1, x2, 1, *[middle_of_window(w) for w in truth])
    for true, estimated in zip(truth, recovered.weights):
      assert support_f1(true, estimated[:, 0]) >= 0.95

    selection = sparse.select_pmd_penalty(x1, x2, 1)
    for true, estimated in zip(truth, selection.params.weights):
      assert np.all(np.asarray(estimated)[true != 0, 0] != 0)
    a, b = np.unravel_index(np.argmax(selection.cv_scores), (10, 10))
    chosen = (selection.grids[0][a], selection.grids[1][b])
    assert selection.penalties == chosen
    np.testing.assert_allclose(selection.grids[1], np.geomspace(1, np.sqrt(D2), 10))
    np.testing.assert_allclose(selection.cv_scores, selection.fold_scores.mean(0))
    # The held-out score of fold 1 at the chosen pair, from the reference fitted on the rest.
    held_out = np.zeros(N, bool)
    held_out[np.random.default_rng(0).permutation(N)[0::5]] = True
    u, v = witten_pmd(x1[~held_out], x2[~held_out], 1, *chosen)
    np.testing.assert_allclose(
        selection.fold_scores[0, a, b],
        reference.correlations_of(x1[held_out] @ u, x2[held_out] @ v).sum(), rtol=1e-5)
    # No penalty given: the same selection.
    default = sparse.fit_pmd(x1, x2, 1)
    np.testing.assert_allclose(default.weights[0], selection.params.weights[0])
    # Cut short, the search says so once, counting its unconverged fits; then the refit warns.
    with pytest.warns(ConvergenceWarning, match=(
        r'select_pmd_penalty: component\(s\) \[1\] of 1 did not converge after 1 iterations')):
      with pytest.warns(ConvergenceWarning, match=(
          r'select_pmd_penalty: the alternation stopped at its iteration limit \(tol=1e-06, '
          r'max_iter=1\) in \d+ of 200 \(fold, penalty\) fits of the cross-validation, 2 of '
          r'them at the chosen penalties')):
        sparse.select_pmd_penalty(x1, x2, 1, folds=2, max_iter=1)

    # The grid (the one the selection compiled) equals single fits at its pairs.
    grid = sparse.fit_pmd_grid(x1, x2, 1, *selection.grids)
    assert grid.weights[0].shape == (10, 10, D1, 1)
    for a, b in [(0, 0), (0, 9), (3, 7), (a, b), (8, 1), (9, 9)]:
      single = sparse.fit_pmd(x1, x2, 1, selection.grids[0][a], selection.grids[1][b])
      for leaf, grid_leaf in zip(jax.tree.leaves(single), jax.tree.leaves(grid)):
        np.testing.assert_allclose(grid_leaf[a, b], leaf, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------- elastic-net CCA


def test_elastic_net_cca_matches_scikit_learn_loop_and_warns_when_cut_short():
  """Both solve the same strongly convex regressions (l1_ratio < 1) from the same start:
  scikit-learn to a duality gap of 1e-12, FISTA to a relative step of 1e-9 (an error of at
  most that times the condition number of X_i^T X_i / n + ridge, about 2 for these views), and
  the alternation to a change of 1e-9. The weights (unit-variance variates, entries up to 0.9)
  differ by 1.3e-10 here; the assertion leaves a factor of 1000 (1e-7) for other platforms."""
  x1, x2 = reference_views()
  alphas, ratios = (0.2, 0.3), (0.5, 0.8)
  with jax.enable_x64(True):
    params = sparse.fit_elastic_net_cca(x1, x2, 2, alphas, ratios, tol=1e-9)
    expected = elastic_net_cca(x1, x2, 2, alphas, ratios, tol=1e-9)
    assert 0 < np.count_nonzero(expected[1]) < expected[1].size / 2
    for got, want in zip(params.weights, expected):
      assert_same_up_to_sign(np.asarray(got), want, atol=1e-7)
      np.testing.assert_array_equal(np.asarray(got) == 0, want == 0)
    z1, z2 = [np.asarray(z) for z in linear.transform(params, x1, x2)]
    np.testing.assert_allclose(z1.std(0), 1.0, rtol=1e-7)
    np.testing.assert_allclose(params.correlations, reference.correlations_of(z1, z2),
                               rtol=1e-9)
    assert params.converged.all()

    with pytest.warns(ConvergenceWarning, match=(
        r'fit_elastic_net_cca: component\(s\) \[1, 2\] of 2 did not converge after 1 '
        r'iterations \(tol=1e-06, max_iter=1, inner_max_iter=5000\)')):
      sparse.fit_elastic_net_cca(x1, x2, 2, alphas, ratios, max_iter=1)


# ------------------------------------------------------------------------------ input


def test_bad_input_raises_before_fitting():
  x1, x2 = reference_views()
  cases = [
      (lambda: sparse.fit_pmd(x1, x2, 1, 0.5, 2.0), r'c1 must lie in \[1, sqrt\(40\)'),
      (lambda: sparse.fit_pmd(x1, x2, 1, 2.0, np.sqrt(30) + 0.01), r'c2 must lie in'),
      (lambda: sparse.fit_pmd(x1, x2, 1, np.nan, 2.0), r'c1 must lie in'),
      (lambda: sparse.fit_pmd_grid(x1, x2, 1, [1.0, 7.0], [2.0]), r'c1_grid must lie in'),
      (lambda: sparse.fit_pmd(x1, x2, 31, 2.0, 2.0), r'k=31 must be between 1 and 30'),
      (lambda: sparse.fit_pmd(x1, x2[:100], 1, 2.0, 2.0), r'different sample counts'),
      (lambda: sparse.fit_pmd(np.where(x1 > 3.5, np.inf, x1), x2, 1, 2.0, 2.0),
       r'view 1 contains NaN or Inf'),
      (lambda: sparse.fit_pmd(x1, x2, 1, 2.0, 2.0, max_iter=0), r'max_iter must be'),
      (lambda: sparse.fit_pmd(x1, x2, 1, 2.0, 2.0, tol=0.0), r'tol must be > 0'),
      (lambda: sparse.select_pmd_penalty(x1, x2, 1, folds=501), r'folds must be an int in'),
      (lambda: sparse.select_pmd_penalty(x1, x2, 1, grid_size=0), r'grid_size must be'),
      (lambda: sparse.fit_elastic_net_cca(x1, x2, 1, -0.1), r'alpha must be finite'),
      (lambda: sparse.fit_elastic_net_cca(x1, x2, 1, 0.1, (0.5, 1.5)), r'l1_ratio must lie'),
      (lambda: sparse.fit_elastic_net_cca(x1, x2, 1, (0.1, 0.2, 0.3)), r'3 regularisers'),
  ]
  for call, message in cases:
    with pytest.raises(ValueError, match=message):
      call()


# ------------------------------------------------------------------------------- slow


@pytest.mark.slow
def test_pmd_deflation_elastic_net_grid_selection_and_float32():
  x1, x2 = reference_views()
  with jax.enable_x64(True):
    selection = sparse.select_elastic_net_penalty(x1, x2, 1, grid_size=4, l1_ratio=0.7)
    a, b = np.unravel_index(np.argmax(selection.cv_scores), (4, 4))
    assert selection.penalties == (selection.grids[0][a], selection.grids[1][b], 0.7, 0.7)
    np.testing.assert_allclose(selection.grids[0][-1],
                               np.max(np.std(x1, axis=0)) / 0.7, rtol=1e-12)
    # The grid (the one the selection compiled) equals single fits at its pairs.
    grid = sparse.fit_elastic_net_cca_grid(x1, x2, 1, *selection.grids, 0.7)
    for a, b in [(0, 0), (1, 3), (a, b), (3, 2)]:
      single = sparse.fit_elastic_net_cca(
          x1, x2, 1, (selection.grids[0][a], selection.grids[1][b]), 0.7)
      for leaf, grid_leaf in zip(jax.tree.leaves(single), jax.tree.leaves(grid)):
        np.testing.assert_allclose(grid_leaf[a, b], leaf, rtol=1e-9, atol=1e-12)
    # Two components: the deflation C <- C - d u v^T against the references.
    pmd64 = check_pmd_against_references(x1, x2, 2)
  with warnings.catch_warnings():
    warnings.simplefilter('error', ConvergenceWarning)  # float32 meets the default tol
    pmd32 = sparse.fit_pmd(x1.astype(np.float32), x2.astype(np.float32), 2, 1.8, 1.6)
  assert pmd32.weights[0].dtype == np.float32
  np.testing.assert_allclose(pmd32.weights[0], pmd64.weights[0], atol=1e-4)
