"""The cca_zoo half of `./launch.sh bench dcca_cca_zoo`: Deep CCA trained by cca_zoo 4.0.1.

  PEER_PYTHON experiments/peer_cca_zoo_dcca.py DATA.npz SPEC.json OUT.npz

Imports NumPy, PyTorch, Lightning and cca_zoo (never crossjax). DATA.npz holds the training
views `train_1`, `train_2` and the views to encode (`test_1`, `test_2`, ...: every pair
`<split>_1`, `<split>_2`); SPEC.json the network and schedule: `widths` (hidden layers),
`n_components`, `learning_rate`, `ridge` (cca_zoo's reg_covar), `batch_size`, `epochs`, `seed`.

Trained as cca_zoo documents it (`cca_zoo.deep.DCCA`'s docstring): MLP encoders
(Linear + ReLU per hidden width, then Linear to n_components), `DCCA(n_components, encoders,
learning_rate, reg_covar)`, a `DataLoader(MultiviewDataset(views), batch_size, shuffle=True)`
and a Lightning `Trainer(max_epochs=epochs)` on the GPU when there is one. Its objective is
cca_zoo's: minus the sum of squared canonical correlations of the batch
(`cca_zoo.deep.objectives.CCALoss`). OUT.npz gets the codes of every split (eval mode, no
gradients, on the training device) and `epoch_seconds`: the wall time of each epoch, from
the start of its first batch to the end of its last, measured by a callback with the device
synchronised.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def main(data_path: str, spec_path: str, out_path: str) -> None:
  import lightning.pytorch as pl  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  from torch import nn  # pylint: disable=import-outside-toplevel
  from torch.utils.data import DataLoader  # pylint: disable=import-outside-toplevel

  import cca_zoo  # pylint: disable=import-outside-toplevel
  from cca_zoo.deep import DCCA, MultiviewDataset  # pylint: disable=import-outside-toplevel

  spec = json.loads(open(spec_path).read())
  arrays = dict(np.load(data_path))
  pl.seed_everything(spec['seed'], verbose=False)
  cuda = torch.cuda.is_available()

  def mlp(features: int) -> nn.Module:
    layers, width = [], features
    for hidden in spec['widths']:
      layers += [nn.Linear(width, hidden), nn.ReLU()]
      width = hidden
    return nn.Sequential(*layers, nn.Linear(width, spec['n_components']))

  train = [arrays['train_1'], arrays['train_2']]
  model = DCCA(n_components=spec['n_components'], encoders=[mlp(v.shape[1]) for v in train],
               learning_rate=spec['learning_rate'], reg_covar=spec['ridge'])
  loader = DataLoader(MultiviewDataset(train), batch_size=spec['batch_size'], shuffle=True)

  class EpochClock(pl.Callback):
    """Per epoch: seconds from its first batch's start to its last batch's end (synced)."""

    def __init__(self):
      self.seconds, self.start = [], None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
      if batch_idx == 0:
        if cuda:
          torch.cuda.synchronize()
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, module):
      if cuda:
        torch.cuda.synchronize()
      self.seconds.append(time.perf_counter() - self.start)

  clock = EpochClock()
  trainer = pl.Trainer(max_epochs=spec['epochs'], accelerator='gpu' if cuda else 'cpu',
                       devices=1, logger=False, enable_progress_bar=False,
                       enable_checkpointing=False, enable_model_summary=False,
                       callbacks=[clock])
  started = time.perf_counter()
  trainer.fit(model, loader)
  fit_seconds = time.perf_counter() - started

  model.eval()
  device = next(model.parameters()).device
  codes = {}
  with torch.no_grad():
    for name in sorted({key.rsplit('_', 1)[0] for key in arrays}):
      views = [torch.as_tensor(arrays[f'{name}_{i}'], dtype=torch.float32, device=device)
               for i in (1, 2)]
      for i, code in enumerate(model(views), start=1):
        codes[f'{name}_{i}'] = code.cpu().numpy()
  device_name = torch.cuda.get_device_name(0) if cuda else 'cpu'
  np.savez(out_path, **codes, epoch_seconds=np.asarray(clock.seconds),
           fit_seconds=np.asarray(fit_seconds),
           versions=np.asarray(json.dumps({'cca_zoo': cca_zoo.__version__,
                                           'torch': torch.__version__,
                                           'lightning': pl.__version__,
                                           'device': device_name})))


if __name__ == '__main__':
  main(*sys.argv[1:])
