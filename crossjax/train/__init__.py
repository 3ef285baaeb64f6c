"""Training and fitting entry points used by `experiments/train.py`."""
