"""Pure CCA objectives on arrays: covariances, whitening, canonical correlations, Deep CCA,
CCA-EY and multi-view (MCCA/GCCA) objectives.

Every function here is a pure function of arrays, safe under `jax.jit`, `jax.vmap` and
`jax.grad`. Shapes are in the argument names: `z1_BxD` is a batch of B samples of a
D-dimensional view. Views are centred inside each function, so callers pass raw outputs.

Value checks (NaN/Inf, a negative regulariser, a singular covariance) need concrete values:
they raise `ValueError` when a function is called eagerly and are skipped under a
transformation, where a bad value shows up as NaN in the result. Shape checks always raise.

Gradients. The popular Deep CCA implementations differentiate through an eigendecomposition
(1/(l_i - l_j) terms) or an element-wise matrix square root, and fail when canonical
correlations repeat, vanish, or an output unit is constant. Here each view is whitened through
a Cholesky factor (well-conditioned gradients whenever the ridge makes the covariance positive
definite) and the sum of the top-k singular (or eigen-) values has the custom VJP
U_k V_k^T (or Q_k Q_k^T), which is the exact gradient whenever s_k > s_{k+1} and involves no
differences of singular values. Where a singular value is exactly zero (a constant output
unit, say) the trace norm has a kink and the VJP takes the minimum-norm subgradient.
`dcca_objective_newton_schulz` computes the same objective (all correlations) and gradient by
matmuls only, Newton-Schulz iterations in place of Cholesky and SVD, for accelerators.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import jax.scipy.linalg

Array = jax.Array


# ----------------------------------------------------------------------------- validation


def _is_concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


def check_views(views: Sequence[Array], min_samples: int = 2,
                check_values: bool = True) -> int:
  """Raises ValueError unless `views` are 2-D arrays with one, shared sample count >= 2.

  With check_values, finiteness is checked where values are concrete (not under jit); callers
  that run their own jitted computation check `all_finite` there instead, saving a pass.
  Returns the sample count.
  """
  if len(views) < 1:
    raise ValueError('expected at least one view, got none')
  n = None
  for i, view in enumerate(views, start=1):
    shape = jnp.shape(view)
    if len(shape) != 2:
      raise ValueError(
          f'view {i} must be a 2-D array (samples, features), got shape {tuple(shape)}')
    if shape[1] < 1:
      raise ValueError(f'view {i} has no features (shape {tuple(shape)})')
    if n is None:
      n = shape[0]
    elif shape[0] != n:
      raise ValueError(
          f'views have different sample counts: view 1 has {n}, view {i} has {shape[0]}')
    if check_values and _is_concrete(view) and not bool(all_finite(jnp.asarray(view))):
      raise ValueError(f'view {i} contains NaN or Inf values')
  if n < min_samples:
    raise ValueError(f'need at least {min_samples} samples, got {n}')
  return n


def all_finite(x: Array) -> Array:
  """A boolean scalar: no NaN or Inf in x."""
  return jnp.all(jnp.isfinite(x))


def raise_if_not_finite(flags: Sequence, views: Sequence) -> None:
  """Raises ValueError naming the first view whose `all_finite` flag is False.

  The flags may be those of the column means: a NaN or Inf anywhere in a column makes its mean
  non-finite, so d means stand in for a pass over n x d values. Only a failed check looks at
  the values, to tell NaN or Inf from finite values whose sums overflow.
  """
  for i, flag in enumerate(flags, start=1):
    if not bool(flag):
      if bool(all_finite(views[i - 1])):
        raise ValueError(f'view {i}: its column sums overflow {views[i - 1].dtype}; rescale '
                         'the view')
      raise ValueError(f'view {i} contains NaN or Inf values')


def check_regulariser(r, name: str = 'r') -> None:
  """Raises ValueError for a negative or non-finite ridge regulariser (concrete values)."""
  if _is_concrete(r):
    value = float(r)
    if not value >= 0.0 or value == float('inf'):
      raise ValueError(f'regulariser {name} must be finite and >= 0, got {value}')


def check_components(k: int | None, max_k: int, why: str) -> int:
  """Returns k (all of `max_k` when None); ValueError unless 1 <= k <= max_k."""
  if k is None:
    return max_k
  if not isinstance(k, int) or isinstance(k, bool):
    raise ValueError(f'k must be an int, got {k!r}')
  if not 1 <= k <= max_k:
    raise ValueError(f'k={k} must be between 1 and {max_k} ({why})')
  return k


# ---------------------------------------------------------------------------- covariances


def centre(z_BxD: Array) -> Array:
  """Subtracts the batch mean of each column."""
  return z_BxD - jnp.mean(z_BxD, axis=0, keepdims=True)


def cross_covariance(z1_BxD: Array, z2_BxE: Array) -> Array:
  """Sigma12 = (Z1 - mean)^T (Z2 - mean) / (B - 1), shape (D, E)."""
  b = z1_BxD.shape[0]
  return centre(z1_BxD).T @ centre(z2_BxE) / (b - 1)


def covariance(z_BxD: Array, r: float | Array = 0.0) -> Array:
  """Sigma = (Z - mean)^T (Z - mean) / (B - 1) + r I, shape (D, D)."""
  sigma = cross_covariance(z_BxD, z_BxD)
  return sigma + r * jnp.eye(sigma.shape[0], dtype=sigma.dtype)


def covariances(z1_BxD: Array, z2_BxE: Array, r1: float | Array = 0.0,
                r2: float | Array = 0.0) -> tuple[Array, Array, Array]:
  """(Sigma11 + r1 I, Sigma22 + r2 I, Sigma12): the ridge-regularised covariances of two views."""
  check_views([z1_BxD, z2_BxE])
  check_regulariser(r1, 'r1')
  check_regulariser(r2, 'r2')
  return covariance(z1_BxD, r1), covariance(z2_BxE, r2), cross_covariance(z1_BxD, z2_BxE)


# Relative variance below which a direction counts as absent (see `inverse_sqrt_psd`).
DEFAULT_RCOND = 1e-5


def inverse_sqrt_psd(sigma_DxD: Array, rcond: float = DEFAULT_RCOND) -> Array:
  """Symmetric pseudo-inverse square root Sigma^{+1/2} of a PSD matrix, via eigh.

  Eigenvalues at or below rcond * the largest are treated as zero, so directions without
  (meaningful) variance, such as constant pixels, are dropped instead of being amplified into
  spurious correlations. The default 1e-5 does not depend on the dtype, so float32 and float64
  fits agree, and it sits well above float32 rounding of a covariance. Being relative to the
  largest variance, it assumes features on comparable scales: standardise them first if not.
  For closed-form fits only: the gradient of eigh has 1/(l_i - l_j) terms, so differentiable
  objectives whiten with a Cholesky factor instead.
  """
  eigenvalues, eigenvectors = jnp.linalg.eigh(sigma_DxD)
  keep = eigenvalues > rcond * jnp.max(eigenvalues)
  inv_sqrt = jnp.where(keep, jax.lax.rsqrt(jnp.where(keep, eigenvalues, 1.0)), 0.0)
  return (eigenvectors * inv_sqrt) @ eigenvectors.T


def whitening(cov_DxD: Array, floor: float | Array, rcond: float = DEFAULT_RCOND) -> Array:
  """A whitening W (W^T C W = I) of a regularised covariance C whose eigenvalues are at least
  floor (the ridge plus shrinkage added to a PSD covariance; 0 if none).

  Where floor > rcond * ||C||_F, no eigenvalue of C can fall under `inverse_sqrt_psd`'s cut
  (||C||_F bounds the largest), so W is the inverse Cholesky factor L^{-T} (C = L L^T): a
  Cholesky and a triangular inverse, several times cheaper than an eigendecomposition. Else,
  or where rounding leaves the factor non-finite, W = C^{+1/2} (`inverse_sqrt_psd`). The two
  differ by an orthogonal rotation (L^{-T} = C^{-1/2} Q), which closed-form CCA, MCCA and GCCA
  absorb into their SVD or eigenvectors: the same weights, up to the signs of components.
  """
  def by_eigh(cov):
    return inverse_sqrt_psd(cov, rcond)

  def by_cholesky(cov):
    factor = jnp.linalg.cholesky(cov)
    inverse = jax.scipy.linalg.solve_triangular(
        factor, jnp.eye(cov.shape[0], dtype=cov.dtype), lower=True)
    return jax.lax.cond(jnp.all(jnp.isfinite(inverse)), lambda c: inverse.T, by_eigh, cov)

  definite = floor > rcond * jnp.linalg.norm(cov_DxD)
  return jax.lax.cond(definite, by_cholesky, by_eigh, cov_DxD)


def _check_positive_definite(factor: Array, view: int, r_name: str) -> None:
  if _is_concrete(factor) and not bool(jnp.all(jnp.isfinite(factor))):
    raise ValueError(
        f'the covariance of view {view} is singular (rank-deficient: constant or collinear '
        f'features, or fewer samples than features); pass {r_name} > 0, or use '
        f'crossjax.linear.fit_cca, which drops null directions (pseudo-inverse)')


def whitened_cross_covariance(z1_BxD: Array, z2_BxE: Array, r1: float | Array = 0.0,
                              r2: float | Array = 0.0) -> Array:
  """T = L1^{-1} Sigma12 L2^{-T}, with L_i L_i^T = Sigma_ii + r_i I (Cholesky), shape (D, E).

  T has the singular values of Sigma11^{-1/2} Sigma12 Sigma22^{-1/2}: the canonical
  correlations. A singular covariance (r = 0 with a rank-deficient view) raises ValueError
  when called eagerly and gives NaN under jit.
  """
  s11, s22, s12 = covariances(z1_BxD, z2_BxE, r1, r2)
  l1 = jnp.linalg.cholesky(s11)
  l2 = jnp.linalg.cholesky(s22)
  _check_positive_definite(l1, 1, 'r1')
  _check_positive_definite(l2, 2, 'r2')
  left = jax.scipy.linalg.solve_triangular(l1, s12, lower=True)
  return jax.scipy.linalg.solve_triangular(l2, left.T, lower=True).T


# --------------------------------------------------------------- spectra with stable VJPs


@jax.custom_vjp
def singular_values(t_DxE: Array) -> Array:
  """Singular values of T in descending order, with a VJP free of 1/(s_i - s_j) terms.

  VJP: U diag(g) V^T over the non-zero singular values. At an exactly zero singular value the
  sum of singular values has a kink (|s|) and no gradient; this takes the minimum-norm
  subgradient there (zero on the null space), which is what central differences see.
  """
  return jnp.linalg.svd(t_DxE, compute_uv=False)


def _singular_values_fwd(t_DxE):
  u, s, vt = jnp.linalg.svd(t_DxE, full_matrices=False)
  return s, (u, s, vt)


def _singular_values_bwd(residuals, g):
  u, s, vt = residuals
  tolerance = max(u.shape[0], vt.shape[1]) * jnp.finfo(s.dtype).eps * s[0]
  return ((u * jnp.where(s > tolerance, g, 0.0)) @ vt,)


singular_values.defvjp(_singular_values_fwd, _singular_values_bwd)


@jax.custom_vjp
def symmetric_eigenvalues(m_DxD: Array) -> Array:
  """Eigenvalues of a symmetric M in descending order; VJP Q diag(g) Q^T."""
  return jnp.linalg.eigvalsh(m_DxD)[::-1]


def _symmetric_eigenvalues_fwd(m_DxD):
  eigenvalues, q = jnp.linalg.eigh(m_DxD)
  return eigenvalues[::-1], q[:, ::-1]


def _symmetric_eigenvalues_bwd(q, g):
  return ((q * g) @ q.T,)


symmetric_eigenvalues.defvjp(_symmetric_eigenvalues_fwd, _symmetric_eigenvalues_bwd)


# ------------------------------------------------------------------ two-view correlations


def canonical_correlations(z1_BxD: Array, z2_BxE: Array, k: int | None = None,
                           r1: float | Array = 0.0, r2: float | Array = 0.0) -> Array:
  """Top-k canonical correlations: singular values of Sigma11^{-1/2} Sigma12 Sigma22^{-1/2}.

  Hotelling (1936). With ridges r1, r2 the covariances are Sigma_ii + r_i I (Vinod 1976).
  k defaults to min(D, E) and may not exceed min(D, E, B - 1).

  Returns: (k,) correlations in descending order.
  """
  b = check_views([z1_BxD, z2_BxE])
  k = check_components(k, min(z1_BxD.shape[1], z2_BxE.shape[1], b - 1),
                       'at most min(D, E, B - 1) canonical correlations exist')
  return singular_values(whitened_cross_covariance(z1_BxD, z2_BxE, r1, r2))[:k]


def dcca_objective(z1_BxD: Array, z2_BxE: Array, k: int | None = None,
                   r1: float | Array = 1e-4, r2: float | Array = 1e-4) -> Array:
  """Deep CCA objective (Andrew et al. 2013): the sum of the top-k canonical correlations.

  corr(H1, H2) = sum_{i<=k} s_i(T), T = (S11 + r1 I)^{-1/2} S12 (S22 + r2 I)^{-1/2};
  with k = min(D, E) this is the trace norm ||T||_* of the paper. Maximise it. The gradient
  with respect to T is U_k V_k^T, exact whenever s_k > s_{k+1} (always for k = all when the
  views have full rank, including repeated and zero correlations). The default ridges are
  those of the paper's code; they keep a constant unit or B < D well-posed.
  """
  check_views([z1_BxD, z2_BxE])
  k = check_components(k, min(z1_BxD.shape[1], z2_BxE.shape[1]),
                       'at most min(D, E) canonical correlations exist')
  return jnp.sum(singular_values(whitened_cross_covariance(z1_BxD, z2_BxE, r1, r2))[:k])


# ------------------------------------------------- matmul-only Deep CCA (Newton-Schulz)

# Iterations of both Newton-Schulz loops. The whitening converges for covariances with
# ||Sigma||_F / lambda_min up to ~1e9 (float32 resolves ~1 / eps = 8e6), the polar factor for
# singular values of T down to 1.4e-5 ||T||_F; see `dcca_objective_newton_schulz`.
NEWTON_SCHULZ_ITERATIONS = 30
# Both loops run unrolled: a rolled loop on a GPU waits for the host once per iteration.
UNROLL_ITERATIONS = True
# Whitening residual ||X Sigma X - I||_F above which the iteration has not converged. float32
# rounding leaves about kappa * eps (1e-3 at kappa = ||Sigma||_F / lambda_min = 4e4).
NEWTON_SCHULZ_TOLERANCE = 0.1

# Accelerators multiply float32 in TF32 (GPU) or bfloat16 (TPU) by default; the iterations
# compound that error, so every product here asks for full float32.
_FULL_PRECISION = jax.lax.Precision.HIGHEST


def _mm(a: Array, b: Array) -> Array:
  return jnp.matmul(a, b, precision=_FULL_PRECISION)


def _frobenius(a: Array) -> Array:
  return jnp.sqrt(jnp.sum(a * a))


@functools.partial(jax.jit, static_argnames='iterations')
def inverse_sqrt_newton_schulz(sigma_DxD: Array,
                               iterations: int = NEWTON_SCHULZ_ITERATIONS) -> Array:
  """Sigma^{-1/2} of a symmetric positive definite matrix (or of each in a stack, shape
  (..., D, D), iterated together) by the coupled Newton-Schulz iteration: matmuls only (no
  eigh, Cholesky or solve), for accelerators.

  Y_0 = Sigma / c, Z_0 = I; T_k = (3 I - Z_k Y_k) / 2, Y_{k+1} = Y_k T_k, Z_{k+1} = T_k Z_k;
  Z_k -> (Sigma / c)^{-1/2}, so Sigma^{-1/2} = Z / sqrt(c) (Higham 2008, Functions of
  Matrices, ch. 6; Lin and Maji 2017). c = ||Sigma||_F puts the eigenvalues a in (0, 1], where
  it converges: e = z y follows e <- e (3 - e)^2 / 4, 2.25-fold while small, then
  quadratically, so ||Sigma||_F / lambda_min = kappa takes about log(kappa) / log(2.25) + 5
  iterations (25 for kappa = 1e7, 30 for 1e9). A singular Sigma does not converge (Z grows
  1.5-fold a step on its null space). Differentiable by autodiff through the iterations.
  """
  if sigma_DxD.ndim < 2 or sigma_DxD.shape[-1] != sigma_DxD.shape[-2]:
    raise ValueError(f'expected a square matrix (or a stack), got shape {sigma_DxD.shape}')
  eye = jnp.eye(sigma_DxD.shape[-1], dtype=sigma_DxD.dtype)
  scale = jnp.sqrt(jnp.sum(sigma_DxD * sigma_DxD, axis=(-2, -1), keepdims=True))

  def step(_, yz):
    y, z = yz
    t = 1.5 * eye - 0.5 * _mm(z, y)
    return _mm(y, t), _mm(t, z)

  _, z = jax.lax.fori_loop(0, iterations, step,
                           (sigma_DxD / scale, jnp.broadcast_to(eye, sigma_DxD.shape)),
                           unroll=UNROLL_ITERATIONS)
  # Z is a polynomial in Sigma: symmetric up to rounding, which this removes.
  return 0.5 * (z + jnp.swapaxes(z, -1, -2)) * jax.lax.rsqrt(scale)


@functools.partial(jax.jit, static_argnames='iterations')
def polar_newton_schulz(t_DxE: Array, iterations: int = NEWTON_SCHULZ_ITERATIONS) -> Array:
  """The polar factor U V^T of T = U S V^T (thin SVD over the non-zero singular values) by
  the Newton-Schulz iteration: matmuls only.

  X_0 = T / ||T||_F, X_{k+1} = 1.5 X_k - 0.5 X_k X_k^T X_k (Kovarik 1970; Bjorck and Bowie
  1971; Higham 2008, ch. 8). Each singular value s of X_0, in (0, 1], follows
  s <- s (3 - s^2) / 2: 1.5-fold while small, then quadratically to 1; a zero singular value
  stays zero, so the limit is the minimum-norm subgradient of the trace norm ||T||_*. The
  singular values of X_k stay in [0, 1] and grow with k, so <X_k, T> is a lower bound on
  ||T||_*, short by at most max_s (1 - s_k) s ||T||_F per component: 1.1e-5 ||T||_F after 25
  iterations, 1.4e-6 after 30, when every s >= 1.4e-5 has s_k > 1 - 1e-3. Rounding-sized
  singular values (eps ||T||_F) grow too, to ~2e-2 after 30 iterations in float32: more
  iterations would turn rounding into spurious directions of the polar factor.
  """
  if t_DxE.ndim != 2:
    raise ValueError(f'expected a matrix, got shape {t_DxE.shape}')
  norm = _frobenius(t_DxE)
  wide = t_DxE.shape[0] < t_DxE.shape[1]

  def step(_, x):
    # The Gram matrix of the short side: D E min(D, E) multiply-adds per product.
    cubed = _mm(_mm(x, x.T), x) if wide else _mm(x, _mm(x.T, x))
    return 1.5 * x - 0.5 * cubed

  return jax.lax.fori_loop(0, iterations, step, t_DxE / jnp.where(norm > 0, norm, 1.0),
                           unroll=UNROLL_ITERATIONS)


def _whitening_residual(x_DxD: Array, sigma_DxD: Array) -> Array:
  return _frobenius(_mm(_mm(x_DxD, sigma_DxD), x_DxD) - jnp.eye(x_DxD.shape[0],
                                                               dtype=x_DxD.dtype))


def _whitened_trace_norm_fwd(s11_DxD, s22_ExE, s12_DxE, iterations):
  if s11_DxD.shape == s22_ExE.shape:  # one loop of batched products: half the launches
    x_DxD, y_ExE = inverse_sqrt_newton_schulz(jnp.stack([s11_DxD, s22_ExE]), iterations)
  else:
    x_DxD = inverse_sqrt_newton_schulz(s11_DxD, iterations)
    y_ExE = inverse_sqrt_newton_schulz(s22_ExE, iterations)
  t_DxE = _mm(_mm(x_DxD, s12_DxE), y_ExE)
  p_DxE = polar_newton_schulz(t_DxE, iterations)
  residuals = jnp.stack([_whitening_residual(x_DxD, s11_DxD),
                         _whitening_residual(y_ExE, s22_ExE)])
  return (jnp.sum(p_DxE * t_DxE), residuals), (x_DxD, y_ExE, t_DxE, p_DxE)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _whitened_trace_norm(s11_DxD, s22_ExE, s12_DxE, iterations):
  """(||X S12 Y||_*, whitening residuals of X and Y), X = S11^{-1/2}, Y = S22^{-1/2}."""
  return _whitened_trace_norm_fwd(s11_DxD, s22_ExE, s12_DxE, iterations)[0]


def _whitened_trace_norm_bwd(iterations, saved, cotangents):
  """The trace norm's gradient P wrt T, pulled back through T = X S12 Y in closed form.

  ||T||_* = tr((S11^{-1} S12 S22^{-1} S21)^{1/2}) depends on S11 only through S11^{-1}, which
  gives -1/2 X (T P^T) X wrt S11 (Andrew et al. 2013, with T P^T = U S U^T); likewise
  -1/2 Y (T^T P) Y wrt S22, and X P Y wrt S12. The residuals are diagnostics: their
  cotangent is dropped.
  """
  del iterations
  x_DxD, y_ExE, t_DxE, p_DxE = saved
  g = cotangents[0]
  m_DxD = _mm(t_DxE, p_DxE.T)
  m_ExE = _mm(t_DxE.T, p_DxE)
  m_DxD = 0.5 * (m_DxD + m_DxD.T)
  m_ExE = 0.5 * (m_ExE + m_ExE.T)
  return (-0.5 * g * _mm(_mm(x_DxD, m_DxD), x_DxD), -0.5 * g * _mm(_mm(y_ExE, m_ExE), y_ExE),
          g * _mm(_mm(x_DxD, p_DxE), y_ExE))


_whitened_trace_norm.defvjp(_whitened_trace_norm_fwd, _whitened_trace_norm_bwd)


@functools.partial(jax.jit, static_argnames='iterations')
def _dcca_newton_schulz(z1_BxD, z2_BxE, r1, r2, iterations):
  """(value, whitening residuals) as one XLA program, so that eager calls compile once."""
  with jax.default_matmul_precision('highest'):
    s11, s22, s12 = covariances(z1_BxD, z2_BxE, r1, r2)
  value, residuals = _whitened_trace_norm(s11, s22, s12, iterations)
  return value, jax.lax.stop_gradient(residuals)


def dcca_objective_newton_schulz(z1_BxD: Array, z2_BxE: Array, k: int | None = None,
                                 r1: float | Array = 1e-4, r2: float | Array = 1e-4,
                                 iterations: int = NEWTON_SCHULZ_ITERATIONS,
                                 return_residual: bool = False):
  """Deep CCA objective (Andrew et al. 2013) on all min(D, E) correlations, matmuls only.

  corr = ||T||_* = <P, T>, T = S11^{-1/2} S12 S22^{-1/2} (ridges r1, r2 as in
  `dcca_objective`: the same value), with S_ii^{-1/2} from `inverse_sqrt_newton_schulz` and
  the polar factor P = U V^T from `polar_newton_schulz`: no Cholesky or SVD, which
  accelerators run slowly. Every product, the covariances' included, runs at full float32
  precision (not the TF32 or bfloat16 passes of GPUs and TPUs, which the iterations would
  compound). The gradient wrt T is P, the trace norm's (sub)gradient, pulled back through the
  whitening in closed form (Andrew et al.'s formulas, with U S U^T = T P^T): exact for the
  computed factors, at a few matmuls, where autodiff through the iterations doubles the time
  for the same accuracy.

  Only k = min(D, E) (None) is matmul-friendly: a top-k sum needs the SVD, so smaller k is
  refused. Accuracy with the default 30 iterations: the whitening converges for
  ||S_ii||_F / lambda_min up to ~1e9, past what float32 resolves (the ridge bounds lambda_min
  below by r); the polar step leaves the value short by at most 1.4e-6 ||T||_F per component
  (a lower bound on ||T||_*); singular values below ~1.4e-5 ||T||_F, which add nothing to the
  value, get a smaller gradient than the SVD's U V^T. In float64 the value and gradient equal
  `dcca_objective`'s to ~1e-13; in float32 (bfloat16-rounded codes included) they agree about
  as well as either agrees with float64: 1e-7 to 1e-5 in value, 1e-6 to 1e-4 in gradient
  (relative), rounding only where correlations near 1 make the gradient cancel.

  Convergence guard: the whitening residuals ||X S_ii X - I||_F, where float32 rounding leaves
  ~kappa * eps. Above NEWTON_SCHULZ_TOLERANCE (not converged: a singular covariance, or one
  beyond float32) an eager call raises ValueError; under jit, `return_residual=True` returns
  (value, the larger residual) to log.
  """
  check_views([z1_BxD, z2_BxE])
  n = min(z1_BxD.shape[1], z2_BxE.shape[1])
  if check_components(k, n, 'at most min(D, E) canonical correlations exist') != n:
    raise ValueError(
        f'dcca_objective_newton_schulz sums all min(D, E) = {n} canonical correlations (the '
        f'trace norm); the top k={k} need an SVD: use dcca_objective (Cholesky + SVD)')
  check_regulariser(r1, 'r1')
  check_regulariser(r2, 'r2')
  if not isinstance(iterations, int) or iterations < 1:
    raise ValueError(f'iterations must be a positive int, got {iterations!r}')
  value, residuals = _dcca_newton_schulz(z1_BxD, z2_BxE, r1, r2, iterations)
  for view, residual in enumerate(residuals if _is_concrete(residuals) else (), start=1):
    if not float(residual) <= NEWTON_SCHULZ_TOLERANCE:
      raise ValueError(
          f'Newton-Schulz whitening of view {view} did not converge in {iterations} '
          f'iterations (residual ||X S X - I||_F = {float(residual):.3g}): its covariance is '
          f'singular or too ill-conditioned for {value.dtype}; pass a larger r{view}, rescale '
          f'the view, raise iterations, or use dcca_objective (Cholesky + SVD)')
  return (value, jnp.max(residuals)) if return_residual else value


# -------------------------------------------------------------------------------- CCA-EY


def _ey_terms(views: Sequence[Array]) -> tuple[Array, Array]:
  """(A, B) for the CCA GEP in the representation space (Chapman et al. 2023, eq. for CCA).

  A = sum_{i != j} Cov(Z_i, Z_j) and B = sum_i Cov(Z_i, Z_i), both (K, K).
  """
  check_views(views)
  widths = {view.shape[1] for view in views}
  if len(widths) != 1:
    raise ValueError(f'CCA-EY needs views of one width K, got widths {sorted(widths)}')
  if len(views) < 2:
    raise ValueError(f'CCA-EY needs at least 2 views, got {len(views)}')
  centred = [centre(view) for view in views]
  b = views[0].shape[0]
  total = sum(centred)
  within = sum(c.T @ c for c in centred) / (b - 1)
  everything = total.T @ total / (b - 1)  # sum over all (i, j) pairs
  return everything - within, within


def cca_ey_objective(views: Sequence[Array]) -> Array:
  """Biased CCA-EY objective from one batch (Chapman, Aguila and Wells 2023).

  EY(Z) = 2 tr(A) - ||B||_F^2 with A = sum_{i != j} Cov(Z_i, Z_j), B = sum_i Cov(Z_i, Z_i).
  Maximise it. For linear Z_i = X_i W_i its maximum over W is the sum of the K largest squared
  eigenvalues of the CCA generalised eigenproblem: sum_{i<=K} rho_i^2 for two views. Biased
  because ||B||^2 is estimated from the same batch.
  """
  a, b = _ey_terms(views)
  return 2.0 * jnp.trace(a) - jnp.sum(b * b)


def cca_ey_objective_unbiased(views_first: Sequence[Array],
                              views_second: Sequence[Array]) -> Array:
  """Unbiased CCA-EY objective from two independent batches (Chapman et al. 2023).

  EY = tr(A1) + tr(A2) - tr(B1 B2): E[tr(B1 B2)] = ||E B||_F^2 for independent batches, so
  the estimate (and its gradient) is unbiased at any batch size.
  """
  a1, b1 = _ey_terms(views_first)
  a2, b2 = _ey_terms(views_second)
  return jnp.trace(a1) + jnp.trace(a2) - jnp.sum(b1 * b2)


# ------------------------------------------------------------------ multi-view (MCCA/GCCA)


def mcca_eigenvalues(views: Sequence[Array], k: int | None = None,
                     r: float | Array | Sequence = 1e-4) -> Array:
  """Top-k eigenvalues of the MCCA eigenproblem Sigma u = lambda D u.

  Sigma is the joint covariance of all m views, D = blockdiag(Sigma_ii + r_i I) (Kettenring
  1971; Nielsen 2002). Computed as the eigenvalues of L^{-1} Sigma L^{-T}, L = blockdiag of
  Cholesky factors. They lie in [0, m]; for two views they are 1 +- rho_i. MAXVAR GCCA
  (Carroll 1968) has the same spectrum: the eigenvalues of sum_i X_i (X_i^T X_i + r_i I)^-1 X_i^T.
  """
  b = check_views(views)
  if len(views) < 2:
    raise ValueError(f'multi-view CCA needs at least 2 views, got {len(views)}')
  ridges = per_view(r, len(views))
  total = sum(view.shape[1] for view in views)
  k = check_components(k, min(total, b - 1), 'at most min(sum of widths, B - 1)')
  whitened = []
  for i, (view, ridge) in enumerate(zip(views, ridges), start=1):
    check_regulariser(ridge, f'r[{i - 1}]')
    factor = jnp.linalg.cholesky(covariance(view, ridge))
    _check_positive_definite(factor, i, f'r[{i - 1}]')
    # Rows of (L_i^{-1} Z_i^T): the whitened view; the whitened joint covariance is then
    # their Gram matrix, with no (sum d)^2 inverse formed.
    whitened.append(jax.scipy.linalg.solve_triangular(factor, centre(view).T, lower=True))
  stacked = jnp.concatenate(whitened, axis=0)
  return symmetric_eigenvalues(stacked @ stacked.T / (b - 1))[:k]


def mcca_objective(views: Sequence[Array], k: int | None = None,
                   r: float | Array | Sequence = 1e-4) -> Array:
  """Multi-view Deep CCA objective: the sum of the top-k MCCA eigenvalues (maximise).

  For two views it is k + the sum of the top-k canonical correlations. Gradient Q_k Q_k^T,
  exact whenever lambda_k > lambda_{k+1}.
  """
  return jnp.sum(mcca_eigenvalues(views, k, r))


def tensor_cca_objective(views: Sequence[Array], r: float | Array | Sequence = 1e-4) -> Array:
  """Deep tensor CCA objective (Wong, Wang, Chan and Zeng 2021): ||M||_F^2 (maximise) of the
  whitened covariance tensor of m >= 2 views,

    M = 1/(B - 1) sum_n z~_1n o z~_2n o ... o z~_mn,   z~_in = L_i^{-1} (z_in - mean_i),

  L_i L_i^T = Sigma_ii + r_i I (Cholesky). M is never formed: with the B x B Gram matrices
  G_i = Z~_i Z~_i^T of the whitened views,

    ||M||_F^2 = 1/(B - 1)^2 sum_{s,t} prod_i (G_i)_st,

  O(B^2 sum d_i) for any number of views (M has prod d_i entries). Invariant to an orthogonal
  rotation of any view's whitened codes (so to the whitening chosen); for two views it is the
  sum of squared canonical correlations. The authors' code instead minimises the residual
  ||M - M^||_F^2 of a detached rank-k CP fit M^, cca_zoo 4.0 maximises ||M||_F; the square
  here is smooth where M = 0 and has the two-view meaning above.
  """
  b = check_views(views)
  if len(views) < 2:
    raise ValueError(f'tensor CCA needs at least 2 views, got {len(views)}')
  product = None
  for i, (view, ridge) in enumerate(zip(views, per_view(r, len(views))), start=1):
    check_regulariser(ridge, f'r[{i - 1}]')
    factor = jnp.linalg.cholesky(covariance(view, ridge))
    _check_positive_definite(factor, i, f'r[{i - 1}]')
    whitened = jax.scipy.linalg.solve_triangular(factor, centre(view).T, lower=True)  # (d, B)
    gram = whitened.T @ whitened
    product = gram if product is None else product * gram
  return jnp.sum(product) / (b - 1) ** 2


def per_view(r, m: int) -> list:
  if isinstance(r, (list, tuple)):
    if len(r) != m:
      raise ValueError(f'got {len(r)} regularisers for {m} views')
    return list(r)
  return [r] * m
