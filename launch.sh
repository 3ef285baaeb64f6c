#!/usr/bin/env bash
# crossjax launcher: sets up .venv (once, and again when pyproject.toml changes), then runs
#   ./launch.sh demo                     linear CCA on scikit-learn's digits halves
#   ./launch.sh test                     the whole test suite (what CI runs)
#   ./launch.sh train CONFIG [--config.key=value ...]   an experiment on this host
#   ./launch.sh bench linear             the linear CCA fit benchmark
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "Creating $VENV with $($PYTHON --version)" >&2
    "$PYTHON" -m venv "$VENV"
  fi
  local stamp="$VENV/.crossjax-installed" want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "Installing crossjax and its dependencies into $VENV" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e '.[test]'
    echo "$want" > "$stamp"
  fi
}

# Data files: an explicit $CROSSJAX_DATA wins; else the shared folder beside the checkout.
if [ -z "${CROSSJAX_DATA:-}" ] && [ -d ../shared/data ]; then
  export CROSSJAX_DATA="$(cd ../shared/data && pwd)"
fi

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  demo)
    setup
    exec "$VENV/bin/python" experiments/train.py --config=experiments/configs/demo.py \
      --workdir="${WORKDIR:-runs/demo}" "$@"
    ;;
  test)
    setup
    status=0
    "$VENV/bin/python" -m pytest -x -q tests "$@" || status=$?
    if [ "$status" -eq 5 ]; then
      echo "pytest collected no tests: failing" >&2
      exit 1
    fi
    exit "$status"
    ;;
  train)
    setup
    [ $# -ge 1 ] || { echo "usage: ./launch.sh train CONFIG [--config.key=value ...]" >&2; exit 2; }
    config=$1; shift
    name=$(basename "${config%%:*}" .py)
    exec "$VENV/bin/python" experiments/train.py --config="$config" \
      --workdir="${WORKDIR:-runs/$name}" "$@"
    ;;
  bench)
    setup
    what=${1:-linear}; [ $# -gt 0 ] && shift
    exec "$VENV/bin/python" -m "experiments.bench_$what" "$@"
    ;;
  *)
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
