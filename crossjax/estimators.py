"""scikit-learn estimators for every model family, over the same engine as the command line.

  from crossjax import estimators
  cca = estimators.CCA(n_components=4, r1=0.1).fit([x1, x2])
  z1, z2 = cca.transform([x1_test, x2_test])
  cca.score([x1_test, x2_test])  # total correlation of the 4 components

Views. `fit`, `transform` and `score` take the views as a list of 2-D arrays (same rows), or as
one 2-D array X of the views side by side, cut into views by the estimator's `view_sizes`
(their widths). Use X for cross-validation: scikit-learn's splitters index the rows of an array
but the items of a list, so `GridSearchCV(CCA(view_sizes=(32, 32)), {'r1': [...]}).fit(X)`
searches over rows as it should, and a `Pipeline` can scale X first. A list in gives a list of
per-view outputs back; X in gives them side by side (one array, ready for the next step).

Fitting. `fit` checks the views as the command line checks files (`files.from_arrays`: bad input
raises the same one-line `files.DataError`), reads them as float32 as it does, and trains on
every row it is given. The estimators scale nothing: put a `StandardScaler` in front. Closed-form
models are fitted by `crossjax.linear` and `crossjax.kernel`; trained ones by the one loop,
`crossjax.train.loop.train`, with the family's generic config (`crossjax/configs/NAME.py`) set
from the estimator's parameters, so the same settings give the same numbers as
`crossjax-train`. Its tune split (for the logged validation loss only; the estimator keeps the
final state) is the training rows. With `workdir`, checkpoints and metrics stay there and a
second fit with the same settings and data resumes or restores that run instead of retraining
(other settings or other data are refused); without it they go to a temporary folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from typing import Callable, Sequence

import jax
import ml_collections
import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from crossjax import evaluate, files, kernel, linear, objectives, sparse, tensor
from crossjax.configs import cgan as cgan_config
from crossjax.configs import dcca as dcca_config
from crossjax.configs import dccae as dccae_config
from crossjax.configs import mae as mae_config
from crossjax.configs import splitae as splitae_config
from crossjax.configs import vcca as vcca_config
from crossjax.families import autoencoder, cgan, deep_cca, shared, split_autoencoder
from crossjax.families import kernel as kernel_family
from crossjax.train import loop, parallel, steps

Views = Sequence[ArrayLike] | ArrayLike


def _checked_splits(views: Sequence, labels: ArrayLike | None, missing: str) -> dict:
  """{'train', 'tune', 'test'}, each every row of `views` (and labels), checked by
  `files.from_arrays`: the estimators train on all they are given, and the loop's tune split
  serves only its logged validation loss."""
  every = files.from_arrays(views, labels, splits=files.ALL_ROWS, missing=missing)['train']
  return {name: every for name in files.SPLITS}


class _Views(BaseEstimator):
  """Views given as a list of arrays or as one array cut by `self.view_sizes`."""

  def _views(self, views: Views) -> list:
    if isinstance(views, (list, tuple)):
      return list(views)
    x = views if isinstance(views, np.ndarray) else np.asarray(views)
    sizes = self.view_sizes
    if sizes is None:
      raise ValueError('one array of views side by side needs view_sizes (the width of each '
                       'view); or give a list of views')
    if x.ndim != 2 or x.shape[1] != sum(sizes):
      raise ValueError(f'view_sizes {tuple(sizes)} add up to {sum(sizes)} columns, the array '
                       f'has shape {x.shape}')
    return np.split(x, np.cumsum(sizes)[:-1], axis=1)

  def _fit_splits(self, views: Views, labels: ArrayLike | None, missing: str = 'refuse'):
    """The checked splits of the training views; records their widths."""
    splits = _checked_splits(self._views(views), labels, missing)
    self.view_sizes_ = tuple(rows.shape[1] for rows in shared.views_of(splits['train']))
    self.n_features_in_ = sum(self.view_sizes_)
    return splits

  def _training_views(self, views: Views, labels: ArrayLike | None, missing: str = 'refuse',
                      two: bool = False) -> list[np.ndarray]:
    """The checked training views as arrays (`_fit_splits`); two: refused unless two views."""
    train = [np.asarray(rows) for rows in shared.views_of(
        self._fit_splits(views, labels, missing)['train'])]
    if two and len(train) != 2:
      raise ValueError(f'{type(self).__name__} takes two views, got {len(train)}')
    return train

  def _fitted_views(self, views: Views) -> list[np.ndarray]:
    """The views as float32 arrays, refused unless they have the widths seen in `fit`."""
    check_is_fitted(self)
    views = [np.asarray(view, np.float32) for view in self._views(views)]
    widths = tuple(view.shape[1] if view.ndim == 2 else None for view in views)
    if widths != self.view_sizes_:
      raise ValueError(f'views of widths {widths}; the model was fitted on {self.view_sizes_}')
    return views

  @staticmethod
  def _output(given: Views, outputs: Sequence) -> list[np.ndarray] | np.ndarray:
    """A list for a list of views, else the outputs side by side."""
    outputs = [np.asarray(output) for output in outputs]
    return outputs if isinstance(given, (list, tuple)) else np.hstack(outputs)


class _CanonicalCorrelation(TransformerMixin, _Views):
  """transform and score of the CCA family: the canonical variates of each view and their
  total correlation, computed by `_math` (`linear` or `kernel`) from `_canonical`."""
  _math = linear

  def _canonical(self, views: list[np.ndarray]) -> tuple:
    """(fitted params of `_math`, its inputs) for the given views."""
    return self.params_, views

  def transform(self, views: Views) -> list[np.ndarray] | np.ndarray:
    """The canonical variates (n, n_components) of each view."""
    params, inputs = self._canonical(self._fitted_views(views))
    return self._output(views, self._math.transform(params, *inputs))

  def score(self, views: Views, y: ArrayLike | None = None) -> float:
    """Total correlation: the sum of the n_components per-component correlations on these
    views (Andrew et al. 2013's measure; higher is better, as GridSearchCV wants)."""
    del y
    params, inputs = self._canonical(self._fitted_views(views))
    return float(np.sum(self._math.component_correlations(params, *inputs)))


# --------------------------------------------------------------------------- closed form


class _Linear(_CanonicalCorrelation):
  """fit for the linear models: `_fit(views)` gives the params; `weights_` are theirs.

  Samples missing a view (a row entirely NaN there) are allowed where `_MISSING` is 'allow'
  (CCA, MCCA, GCCA: covariances from the rows where both views of a pair are present)."""
  _MISSING = 'refuse'

  def fit(self, views: Views, y: ArrayLike | None = None):
    """Fits on every row of the views; y (labels) is only checked."""
    self.params_ = self._fit(self._training_views(views, y, self._MISSING))
    self.weights_ = [np.asarray(w) for w in self.params_.weights]
    return self

  def inverse_transform(self, variates: Views) -> list[np.ndarray] | np.ndarray:
    """Each view rebuilt from its own canonical variates (`linear.inverse_transform`, the
    least-squares map fitted on the training rows): a list of (n, n_components) arrays in,
    a list out; the variates side by side in, the views side by side out."""
    check_is_fitted(self)
    k = self.weights_[0].shape[1]
    given = (list(variates) if isinstance(variates, (list, tuple))
             else np.split(np.asarray(variates), len(self.weights_), axis=1))
    if len(given) != len(self.weights_) or any(np.ndim(z) != 2 or np.shape(z)[1] != k
                                               for z in given):
      raise ValueError(f'inverse_transform takes {len(self.weights_)} arrays of {k} variates '
                       'each (what transform gives)')
    return self._output(variates, [linear.inverse_transform(self.params_, np.asarray(z), i)
                                   for i, z in enumerate(given)])

  def predict(self, views: Sequence[ArrayLike | None]) -> list[np.ndarray]:
    """Every view: those given as they are, each None predicted from the given ones'
    variates (`linear.predict`: least squares on the training variates)."""
    check_is_fitted(self)
    if not isinstance(views, (list, tuple)) or len(views) != len(self.view_sizes_):
      raise ValueError(f'predict takes a list of {len(self.view_sizes_)} views, None for those '
                       'to predict')
    present = [None if view is None else np.asarray(view, np.float32) for view in views]
    if all(view is None for view in present):
      raise ValueError('predict needs at least one view given')
    return [np.asarray(linear.predict(self.params_, present, i)) if view is None else view
            for i, view in enumerate(present)]


class CCA(_Linear):
  """Ridge CCA of two views (Hotelling 1936; Vinod 1976): `linear.fit_cca`.

  r1, r2: ridges added to the views' covariances; shrinkage: c in [0, 1] (one for both views
  or one per view), each covariance replaced by (1 - c) S + c I: 0 is CCA, 1 is PLS (cca_zoo's
  RidgeCCA). Samples missing one view inform the other's statistics (pairwise moments).
  Attributes after fit: params_ (`linear.LinearCCAParams`), weights_ (one features x
  n_components array per view).
  """
  _MISSING = 'allow'

  def __init__(self, n_components: int = 2, r1: float = 0.0, r2: float = 0.0,
               shrinkage: float | Sequence[float] = 0.0,
               rcond: float = objectives.DEFAULT_RCOND,
               view_sizes: Sequence[int] | None = None):
    self.n_components = n_components
    self.r1 = r1
    self.r2 = r2
    self.shrinkage = shrinkage
    self.rcond = rcond
    self.view_sizes = view_sizes

  def _fit(self, views):
    if len(views) != 2:
      raise ValueError(f'CCA takes two views, got {len(views)}: use MCCA or GCCA')
    return linear.fit_cca(*views, self.n_components, self.r1, self.r2, self.rcond,
                          shrinkage=self.shrinkage)


class PLS(_Linear):
  """Partial least squares of two views (Wegelin 2000): `linear.fit_pls`. mode 'svd'
  (PLS-SVD: the top singular vectors of the cross-covariance) or 'canonical' (PLS-W2A, with
  deflation, as scikit-learn's PLSCanonical)."""

  def __init__(self, n_components: int = 2, mode: str = 'svd',
               view_sizes: Sequence[int] | None = None):
    self.n_components = n_components
    self.mode = mode
    self.view_sizes = view_sizes

  def _fit(self, views):
    if len(views) != 2:
      raise ValueError(f'PLS takes two views, got {len(views)}: use MCCA with shrinkage 1')
    return linear.fit_pls(*views, self.n_components, self.mode)


class MCCA(_Linear):
  """Multiset CCA (SUMCOR) of two or more views, ridge r and shrinkage c (one value or one per
  view; c = 1 is multi-view PLS): `linear.fit_mcca`. Samples may miss views."""
  _MISSING = 'allow'

  def __init__(self, n_components: int = 2, r: float = 0.0,
               shrinkage: float | Sequence[float] = 0.0,
               rcond: float = objectives.DEFAULT_RCOND,
               view_sizes: Sequence[int] | None = None):
    self.n_components = n_components
    self.r = r
    self.shrinkage = shrinkage
    self.rcond = rcond
    self.view_sizes = view_sizes

  def _fit(self, views):
    return linear.fit_mcca(views, self.n_components, self.r, self.rcond,
                           shrinkage=self.shrinkage)


class GCCA(MCCA):
  """Generalised CCA (MAXVAR) of two or more views, ridge r and shrinkage c: `linear.fit_gcca`.
  The views' variates sum to the consensus on the training rows."""

  def _fit(self, views):
    return linear.fit_gcca(views, self.n_components, self.r, self.rcond,
                           shrinkage=self.shrinkage)


class TCCA(_Linear):
  """Tensor CCA of two or more views (Luo et al. 2015): `tensor.fit_tcca`, the rank-k CP
  decomposition of the whitened views' covariance tensor by alternating least squares.

  r: ridge; shrinkage: c in [0, 1] towards the identity (cca_zoo's TCCA `shrinkage`), one for
  all views or one per view. A RuntimeWarning says when ALS did not converge in max_iterations
  sweeps. Tensor CCA finds high-order structure, which Gaussian views do not have: see
  `crossjax.tensor`. Attributes after fit: params_ (`linear.LinearCCAParams` of the tensor CCA
  weights), weights_, cp_weights_ ((k,) the CP weights, the high-order canonical
  correlations for k = 1).
  """

  def __init__(self, n_components: int = 1, r: float = 0.0,
               shrinkage: float | Sequence[float] = 0.0, max_iterations: int = 500,
               tol: float = 1e-6, rcond: float = objectives.DEFAULT_RCOND,
               view_sizes: Sequence[int] | None = None):
    self.n_components = n_components
    self.r = r
    self.shrinkage = shrinkage
    self.max_iterations = max_iterations
    self.tol = tol
    self.rcond = rcond
    self.view_sizes = view_sizes

  def _fit(self, views):
    fitted = tensor.fit_tcca(views, self.n_components, self.r, self.rcond,
                             shrinkage=self.shrinkage, max_iterations=self.max_iterations,
                             tol=self.tol)
    self.cp_weights_ = np.asarray(fitted.cp_weights)
    return fitted.cca


class SparseCCA(_CanonicalCorrelation):
  """Sparse CCA of two views: method 'pmd' (penalised matrix decomposition, Witten et al.
  2009: L1 bounds c1, c2 in [1, sqrt(features)] on unit-norm weights; `sparse.fit_pmd`) or
  'elastic_net' (alternating elastic-net regressions, Waaijenborg et al. 2008: strength alpha,
  one or one per view, and l1_ratio; `sparse.fit_elastic_net_cca`).

  Penalties left as None are chosen on held-out correlation within the training rows (folds-fold
  cross-validation over a grid of grid_size values per view, seeded by random_state), the
  whole grid in one compiled call per fold. A ConvergenceWarning names any component that did
  not converge in max_iter alternations. Attributes after fit: params_
  (`sparse.SparseCCAParams`), weights_, penalties_ (those used), converged_ ((k,) bool).
  """

  def __init__(self, n_components: int = 1, method: str = 'pmd', c1: float | None = None,
               c2: float | None = None, alpha: float | Sequence[float] | None = None,
               l1_ratio: float | Sequence[float] = 1.0, max_iter: int = 500,
               tol: float = 1e-6, grid_size: int = 10, folds: int = 5, random_state: int = 0,
               view_sizes: Sequence[int] | None = None):
    self.n_components = n_components
    self.method = method
    self.c1 = c1
    self.c2 = c2
    self.alpha = alpha
    self.l1_ratio = l1_ratio
    self.max_iter = max_iter
    self.tol = tol
    self.grid_size = grid_size
    self.folds = folds
    self.random_state = random_state
    self.view_sizes = view_sizes

  def fit(self, views: Views, y: ArrayLike | None = None):
    """Fits on every row of the views; y (labels) is only checked."""
    train = self._training_views(views, y, two=True)
    search = dict(tol=self.tol, max_iter=self.max_iter, grid_size=self.grid_size,
                  folds=self.folds, seed=self.random_state)
    if self.method == 'pmd':
      self.params_ = sparse.fit_pmd(*train, self.n_components, self.c1, self.c2, **search)
    elif self.method == 'elastic_net':
      self.params_ = sparse.fit_elastic_net_cca(*train, self.n_components, self.alpha,
                                                self.l1_ratio, **search)
    else:
      raise ValueError(f"method must be 'pmd' or 'elastic_net', got {self.method!r}")
    self.weights_ = [np.asarray(w) for w in self.params_.weights]
    self.penalties_ = tuple(float(p) for p in self.params_.penalties)
    self.converged_ = np.asarray(self.params_.converged)
    return self


class KernelCCA(_CanonicalCorrelation):
  """Approximate RBF kernel CCA of two views (Nystrom features, then ridge CCA):
  `kernel.fit_kernel_cca`.

  The kernel width of each view is width_scale times its median distance between rows; ridge
  regularises both views; num_landmarks 0 takes min(2000, the rows). Tune width_scale and ridge
  with GridSearchCV (the command line's kcca chooses them from a grid on its tune split).
  random_state seeds the landmarks and the median's sample.
  """
  _math = kernel

  def __init__(self, n_components: int = 2, width_scale: float = 1.0, ridge: float = 1e-3,
               num_landmarks: int = 0, random_state: int = 0,
               view_sizes: Sequence[int] | None = None):
    self.n_components = n_components
    self.width_scale = width_scale
    self.ridge = ridge
    self.num_landmarks = num_landmarks
    self.random_state = random_state
    self.view_sizes = view_sizes

  def fit(self, views: Views, y: ArrayLike | None = None):
    train = self._training_views(views, y, two=True)
    landmarks = self.num_landmarks or min(kernel_family.DEFAULT_LANDMARKS, len(train[0]))
    widths = tuple(self.width_scale * kernel.median_distance(view, seed=self.random_state)
                   for view in train)
    self.params_ = kernel.fit_kernel_cca(*train, self.n_components, widths, self.ridge,
                                         self.ridge, landmarks, self.random_state)
    return self


# ------------------------------------------------------------------------------- trained


def _fingerprint(splits: dict) -> str:
  """sha256 of the training arrays: a work directory then refuses to resume on other data."""
  digest = hashlib.sha256()
  for key, value in sorted(splits['train'].items()):
    source = value.source if isinstance(value, files.Rows) else value
    digest.update(repr((key, source.shape, str(source.dtype))).encode())
    digest.update(np.ascontiguousarray(source))
  return digest.hexdigest()


class _Trained(BaseEstimator):
  """Trains through `loop.train`: `_run` takes a family config and sets the settings every
  trained estimator shares (random_state, epochs, batch_size, workdir, progress_bar,
  num_devices: the first n devices of this process, 0 all of them)."""

  def __getstate__(self) -> dict:
    """What pickle (and joblib.dump) keep: everything but the optimizer of `state_` (optax's
    closures do not pickle) and the jitted functions of `_compiled`. A loaded estimator
    transforms, scores and samples as the saved one; `fit` trains anew."""
    state = dict(super().__getstate__())
    state.pop('_functions', None)
    if 'state_' in state:
      state['state_'] = state['state_'].replace(tx=None)
    return state

  def _compiled(self, name: str, make: Callable):
    """make(state_), kept until the next fit: a jitted encoder or decoder of the trained state
    then compiles once, not at every call (a small MLP's transform of 2,000 rows: 11 ms
    instead of 130-180 ms)."""
    functions = self.__dict__.setdefault('_functions', {})
    if name not in functions:
      functions[name] = make(self.state_)
    return functions[name]

  def _run(self, config: ml_collections.ConfigDict, splits: dict, modules: dict) -> None:
    """Trains (or restores) config's model on `splits`; keeps the final state (`state_`, on
    this process's first device) and the config with the sizes left to the data (`config_`)."""
    config.seed = config.data.seed = self.random_state
    config.num_epochs = self.epochs
    config.batch_size = self.batch_size
    config.progress_bar = self.progress_bar
    config.num_devices = self.num_devices
    config.data.standardize = False
    modules = {name: given for name, given in modules.items() if given is not None}
    with contextlib.ExitStack() as stack:
      if self.workdir:
        config.data.fingerprint = _fingerprint(splits)
        workdir = self.workdir
      else:
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix='crossjax-'))
      run = loop.train(config, str(workdir), splits, modules or None)
    self.state_ = parallel.local_copy(run.state)
    self.config_ = run.config
    self._functions = {}


class DCCA(_CanonicalCorrelation, _Trained):
  """Deep CCA (Andrew et al. 2013): an MLP encoder per view (two or more), trained on the
  correlation objective of their codes: 'dcca' (the paper's), 'dcca_newton_schulz' (the same
  by matmuls only, two views), 'ey' or 'ey_unbiased' (CCA-EY, Chapman et al. 2023),
  ridge-regularised; or a loss of `crossjax.contrastive` ('infonce', 'siglip', 'barlow_twins',
  'vicreg', two views, the papers' settings).

  n_components is the code size; `transform` gives the codes through a linear CCA (MCCA for
  more views) fitted on the training codes, as Andrew et al. evaluate, and `score` their total
  correlation. hidden_widths: the MLPs' hidden layers; encoders: your own Flax modules instead
  (one per view, `__call__(x, train)` to n_components features). batch_size 0 takes the
  largest up to 512 the rows allow. Attributes after fit: state_ (the final train state),
  config_ (the resolved config), cca_ (the linear CCA on the codes).
  """

  _CONFIG = dcca_config

  def __init__(self, n_components: int = 2, objective: str = 'dcca', ridge: float = 1e-3,
               hidden_widths: Sequence[int] = (256, 256), epochs: int = 20,
               batch_size: int = 0, learning_rate: float = 1e-3, random_state: int = 0,
               encoders: Sequence | None = None, workdir: str | None = None,
               progress_bar: bool = False, view_sizes: Sequence[int] | None = None,
               num_devices: int = 0):
    self.n_components = n_components
    self.objective = objective
    self.ridge = ridge
    self.hidden_widths = hidden_widths
    self.epochs = epochs
    self.batch_size = batch_size
    self.learning_rate = learning_rate
    self.random_state = random_state
    self.encoders = encoders
    self.workdir = workdir
    self.progress_bar = progress_bar
    self.view_sizes = view_sizes
    self.num_devices = num_devices

  def _config(self) -> ml_collections.ConfigDict:
    config = self._CONFIG.get_config()
    config.encoder.widths = tuple(self.hidden_widths)
    config.output_dim = config.evaluation.k = self.n_components
    config.objective.name = self.objective
    config.objective.ridge = self.ridge
    config.optimizer.learning_rate = self.learning_rate
    return config

  def _modules(self) -> dict:
    return {'encoders': self.encoders}

  def fit(self, views: Views, y: ArrayLike | None = None):
    """Trains on every row of the views (y, labels, is only checked)."""
    splits = self._fit_splits(views, y)
    self._run(self._config(), splits, self._modules())
    self.cca_ = evaluate.post_hoc_cca(self._codes(shared.views_of(splits['train'])),
                                      self.config_.evaluation.k)
    return self

  def _codes(self, views: list) -> list[np.ndarray]:
    return self._compiled('encoder', deep_cca.encoder)(views, self.config_.evaluation.batch_size)

  def _canonical(self, views):
    return self.cca_, self._codes(views)


class DCCAE(DCCA):
  """Deep canonically correlated autoencoders (Wang et al. 2015): DCCA plus an MLP decoder per
  view; loss = -correlation objective + reconstruction_weight * squared reconstruction error.
  hidden_widths serve encoders and decoders; decoders: your own Flax modules (code -> view)."""

  _CONFIG = dccae_config

  def __init__(self, n_components: int = 2, objective: str = 'dcca', ridge: float = 1e-3,
               reconstruction_weight: float = 1e-3, hidden_widths: Sequence[int] = (256, 256),
               epochs: int = 20, batch_size: int = 0, learning_rate: float = 1e-3,
               random_state: int = 0, encoders: Sequence | None = None,
               decoders: Sequence | None = None, workdir: str | None = None,
               progress_bar: bool = False, view_sizes: Sequence[int] | None = None,
               num_devices: int = 0):
    super().__init__(
        n_components=n_components, objective=objective, ridge=ridge,
        hidden_widths=hidden_widths, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, random_state=random_state, encoders=encoders,
        workdir=workdir, progress_bar=progress_bar, view_sizes=view_sizes,
        num_devices=num_devices)
    self.reconstruction_weight = reconstruction_weight
    self.decoders = decoders

  def _config(self) -> ml_collections.ConfigDict:
    config = super()._config()
    config.decoder.widths = tuple(self.hidden_widths)
    config.reconstruction.weight = self.reconstruction_weight
    return config

  def _modules(self) -> dict:
    return {'encoders': self.encoders, 'decoders': self.decoders}


class MultimodalAutoencoder(TransformerMixin, _Views, _Trained):
  """Multimodal autoencoder (Ngiam et al. 2011) for two or more views, some of them possibly
  missing per sample (a row entirely NaN in that view): per-view MLP encoders (hidden_widths,
  then hidden_dim features) fused into one shared code of n_components, per-view decoders;
  squared reconstruction error; a share single_modality_fraction of each batch shows one view
  only.

  `transform` gives the shared code, one (n, n_components) array however the views are given
  (there is one code per sample, not one per view); a missing view is masked out of it.
  `inverse_transform` decodes codes into every view; `score` is minus the reconstruction loss
  from all present views (higher is better).
  encoders, decoders: your own Flax modules instead of the MLPs.
  """

  def __init__(self, n_components: int = 64, hidden_widths: Sequence[int] = (256,),
               hidden_dim: int = 128, single_modality_fraction: float = 0.5,
               epochs: int = 20, batch_size: int = 0, learning_rate: float = 1e-3,
               random_state: int = 0, encoders: Sequence | None = None,
               decoders: Sequence | None = None, workdir: str | None = None,
               progress_bar: bool = False, view_sizes: Sequence[int] | None = None,
               num_devices: int = 0):
    self.n_components = n_components
    self.hidden_widths = hidden_widths
    self.hidden_dim = hidden_dim
    self.single_modality_fraction = single_modality_fraction
    self.epochs = epochs
    self.batch_size = batch_size
    self.learning_rate = learning_rate
    self.random_state = random_state
    self.encoders = encoders
    self.decoders = decoders
    self.workdir = workdir
    self.progress_bar = progress_bar
    self.view_sizes = view_sizes
    self.num_devices = num_devices

  def fit(self, views: Views, y: ArrayLike | None = None):
    """Trains on every row of the views (y, labels, is only checked)."""
    config = mae_config.get_config()
    config.encoder.widths = config.decoder.widths = tuple(self.hidden_widths)
    config.hidden_dim = self.hidden_dim
    config.code_dim = self.n_components
    config.single_modality_fraction = self.single_modality_fraction
    config.optimizer.learning_rate = self.learning_rate
    splits = self._fit_splits(views, y, missing=autoencoder.MISSING_VIEWS)
    self._run(config, splits, {'encoders': self.encoders, 'decoders': self.decoders})
    return self

  def transform(self, views: Views) -> np.ndarray:
    views = self._fitted_views(views)
    return self._compiled('encoder', autoencoder.encoder)(views, np.ones(len(views)),
                                                          self.config_.evaluation.batch_size)

  def inverse_transform(self, codes: ArrayLike) -> list[np.ndarray] | np.ndarray:
    """Every view decoded from the codes: a list, or side by side where view_sizes is set (a
    model of one array X, e.g. in a Pipeline)."""
    check_is_fitted(self)
    views = self._compiled('decoder', autoencoder.decoder)(np.asarray(codes, np.float32))
    return views if self.view_sizes is None else np.hstack(views)

  def score(self, views: Views, y: ArrayLike | None = None) -> float:
    del y
    batch = {f'x{i}': view for i, view in enumerate(self._fitted_views(views), start=1)}
    return -float(jax.jit(autoencoder.eval_step)(self.state_, batch)['loss'])


class SplitAE(TransformerMixin, _Views, _Trained):
  """SplitAE (the baseline of Ngiam et al. 2011 and Wang et al. 2015): an MLP encoder of view 1
  to n_components, an MLP decoder per view from that code; squared error summed over views.

  `transform` gives the view-1 codes, one (n, n_components) array (only view 1 is read, but
  every view is checked); `inverse_transform` decodes codes into every view; `score` is minus
  the reconstruction loss (higher is better). encoder: your own Flax module for view 1;
  decoders: yours for the views (code -> view).
  """

  _CONFIG = splitae_config

  def __init__(self, n_components: int = 10, hidden_widths: Sequence[int] = (256, 256),
               epochs: int = 20, batch_size: int = 0, learning_rate: float = 1e-3,
               random_state: int = 0, encoder=None, decoders: Sequence | None = None,
               workdir: str | None = None, progress_bar: bool = False,
               view_sizes: Sequence[int] | None = None, num_devices: int = 0):
    self.n_components = n_components
    self.hidden_widths = hidden_widths
    self.epochs = epochs
    self.batch_size = batch_size
    self.learning_rate = learning_rate
    self.random_state = random_state
    self.encoder = encoder
    self.decoders = decoders
    self.workdir = workdir
    self.progress_bar = progress_bar
    self.view_sizes = view_sizes
    self.num_devices = num_devices

  def _config(self) -> ml_collections.ConfigDict:
    config = self._CONFIG.get_config()
    config.encoder.widths = config.decoder.widths = tuple(self.hidden_widths)
    config.output_dim = self.n_components
    config.optimizer.learning_rate = self.learning_rate
    config.evaluation.protocols = ()
    return config

  def fit(self, views: Views, y: ArrayLike | None = None):
    """Trains on every row of the views (y, labels, is only checked)."""
    splits = self._fit_splits(views, y)
    self._run(self._config(), splits, {
        'encoders': None if self.encoder is None else [self.encoder],
        'decoders': self.decoders})
    return self

  def transform(self, views: Views) -> np.ndarray:
    first = self._fitted_views(views)[0]  # checks that it is fitted first
    return self._compiled('encoder', split_autoencoder.encoder)(
        first, self.config_.evaluation.batch_size)

  def inverse_transform(self, codes: ArrayLike) -> list[np.ndarray] | np.ndarray:
    """Every view decoded from the codes: a list, or side by side where view_sizes is set."""
    check_is_fitted(self)
    # The model's `decode(code)`, as the multimodal autoencoder's: the same jitted decoder.
    views = self._compiled('decoder', autoencoder.decoder)(np.asarray(codes, np.float32))
    return views if self.view_sizes is None else np.hstack(views)

  def score(self, views: Views, y: ArrayLike | None = None) -> float:
    del y
    batch = {f'x{i}': view for i, view in enumerate(self._fitted_views(views), start=1)}
    return -float(jax.jit(steps.eval_step)(self.state_, batch)['loss'])


class VCCA(SplitAE):
  """VCCA (Wang, Yan, Lee and Livescu 2016): q(z | x_1) = N(mu(x_1), diag sigma^2(x_1)) from an
  MLP encoder of view 1, an MLP decoder per view from z, trained on the negative evidence lower
  bound with `samples` reparameterised draws (squared error: a Gaussian likelihood); with
  private_components > 0, VCCA-private (a private latent h_i per view from its own encoder).

  `transform` gives the means of q(z | x_1); `inverse_transform` decodes codes (z; for
  VCCA-private with every h_i at its prior mean 0); `score` is minus the negative ELBO with
  the posterior means decoded (higher is better).
  """

  _CONFIG = vcca_config

  def __init__(self, n_components: int = 10, private_components: int = 0, samples: int = 1,
               hidden_widths: Sequence[int] = (256, 256), epochs: int = 20,
               batch_size: int = 0, learning_rate: float = 1e-3, random_state: int = 0,
               encoder=None, decoders: Sequence | None = None, workdir: str | None = None,
               progress_bar: bool = False, view_sizes: Sequence[int] | None = None,
               num_devices: int = 0):
    super().__init__(
        n_components=n_components, hidden_widths=hidden_widths, epochs=epochs,
        batch_size=batch_size, learning_rate=learning_rate, random_state=random_state,
        encoder=encoder, decoders=decoders, workdir=workdir, progress_bar=progress_bar,
        view_sizes=view_sizes, num_devices=num_devices)
    self.private_components = private_components
    self.samples = samples

  def _config(self) -> ml_collections.ConfigDict:
    config = super()._config()
    config.private_encoder.widths = tuple(self.hidden_widths)
    config.variational.private_dim = self.private_components
    config.variational.samples = self.samples
    return config

  def inverse_transform(self, codes: ArrayLike) -> list[np.ndarray] | np.ndarray:
    codes = np.asarray(codes, np.float32)
    if self.private_components:
      codes = np.hstack([codes, np.zeros((len(codes), self.private_components), np.float32)])
    return super().inverse_transform(codes)


class ConditionalGAN(_Trained):
  """Conditional GAN (Mirza and Osindero 2014): `fit(condition, target)` learns to generate a
  target row given its condition, `sample(condition)` draws one per condition row.

  condition: a 2-D array (another view) or 1-D integer class labels 0 .. C-1; target: a 2-D
  array. output: the generator's last activation, 'linear' (any real values; standardise them)
  or 'sigmoid' (values in [0, 1], e.g. pixels). MLP players of hidden_widths, projection
  discriminator, R1 penalty r1_weight, loss 'non_saturating' or 'hinge'. generator,
  discriminator: your own Flax modules (the generator's network to the target width; the
  discriminator's to the condition code's 64 features).
  """

  def __init__(self, noise_dim: int = 32, output: str = 'linear',
               hidden_widths: Sequence[int] = (256, 256), loss: str = 'non_saturating',
               r1_weight: float = 1.0, epochs: int = 20, batch_size: int = 0,
               generator_learning_rate: float = 5e-4, discriminator_learning_rate: float = 2e-4,
               random_state: int = 0, generator=None, discriminator=None,
               workdir: str | None = None, progress_bar: bool = False, num_devices: int = 0):
    self.noise_dim = noise_dim
    self.output = output
    self.hidden_widths = hidden_widths
    self.loss = loss
    self.r1_weight = r1_weight
    self.epochs = epochs
    self.batch_size = batch_size
    self.generator_learning_rate = generator_learning_rate
    self.discriminator_learning_rate = discriminator_learning_rate
    self.random_state = random_state
    self.generator = generator
    self.discriminator = discriminator
    self.workdir = workdir
    self.progress_bar = progress_bar
    self.num_devices = num_devices

  def fit(self, condition: ArrayLike, target: ArrayLike):
    condition = np.asarray(condition)
    config = cgan_config.get_config()
    config.gan.noise_dim = self.noise_dim
    config.gan.output = self.output
    config.gan.loss = self.loss
    config.gan.r1_weight = self.r1_weight
    config.generator.widths = config.discriminator.widths = tuple(self.hidden_widths)
    config.optimizer.generator.learning_rate = self.generator_learning_rate
    config.optimizer.discriminator.learning_rate = self.discriminator_learning_rate
    self.by_label_ = condition.ndim == 1
    if self.by_label_:
      splits = _checked_splits([target], condition, 'refuse')
      config.gan.condition, config.gan.target = 'labels', 'x1'
      config.num_classes = int(condition.max()) + 1
    else:
      splits = _checked_splits([condition, target], None, 'refuse')
    self._run(config, splits, {'generator': self.generator,
                               'discriminator': self.discriminator})
    return self

  def sample(self, condition: ArrayLike, random_state: int | None = None) -> np.ndarray:
    """One generated target per condition row, noise seeded by random_state (the estimator's
    by default: the same conditions then give the same samples)."""
    check_is_fitted(self)
    condition = np.asarray(condition, np.int32 if self.by_label_ else np.float32)
    seed = self.random_state if random_state is None else random_state
    return self._compiled('generator', cgan.generator)(condition, jax.random.PRNGKey(seed),
                                                       self.config_.evaluation.batch_size)
