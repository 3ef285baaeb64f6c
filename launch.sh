#!/usr/bin/env bash
# crossjax launcher: sets up .venv (once, and again when pyproject.toml changes), then runs
#   ./launch.sh demo                     linear CCA on scikit-learn's digits halves
#   ./launch.sh test                     the whole test suite (what CI runs)
#   ./launch.sh train CONFIG [--config.key=value ...]   an experiment on this host
#   ./launch.sh train --processes N CONFIG [...]        N cooperating processes on this host
#   ./launch.sh reproduce NAME [NAME ...] a paper experiment: train (or resume) and evaluate
#   ./launch.sh reproduce --list|--table  the names / rebuild RESULTS.md from runs/
#   ./launch.sh bench                    every benchmark, then BENCHMARKS.md
#   ./launch.sh bench linear|dcca|steps|data  one benchmark (data: 26 GiB of views, not in bench)
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
    exec "$VENV/bin/python" -m crossjax.main --config=crossjax/configs/demo.py \
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
    processes=1
    if [ "${1:-}" = "--processes" ]; then processes=${2:?--processes needs a count}; shift 2; fi
    [ $# -ge 1 ] || { echo "usage: ./launch.sh train [--processes N] CONFIG [--config.key=value ...]" >&2; exit 2; }
    config=$1; shift
    name=$(basename "${config%%:*}" .py)
    args=(-m crossjax.main --config="$config" --workdir="${WORKDIR:-runs/$name}")
    if [ "$processes" -eq 1 ]; then
      exec "$VENV/bin/python" "${args[@]}" "$@"
    fi
    # N cooperating processes on this machine, as N hosts would run: coordinator on 127.0.0.1.
    port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    pids=()
    for ((i = 0; i < processes; i++)); do
      "$VENV/bin/python" "${args[@]}" --coordinator_address="127.0.0.1:$port" \
        --num_processes="$processes" --process_id="$i" "$@" &
      pids+=($!)
    done
    trap 'kill -TERM "${pids[@]}" 2>/dev/null' TERM INT
    status=0
    for ((i = 0; i < processes; i++)); do
      code=0
      wait -n || code=$?
      if [ "$code" -ne 0 ] && [ "$status" -eq 0 ]; then
        status=$code
        echo "a training process failed (exit $code): stopping the others" >&2
        kill -TERM "${pids[@]}" 2>/dev/null || true
      fi
    done
    exit "$status"
    ;;
  reproduce)
    setup
    exec "$VENV/bin/python" -m experiments.reproduce "$@"
    ;;
  bench)
    setup
    if [ $# -eq 0 ]; then exec "$VENV/bin/python" -m experiments.bench_all; fi
    what=$1; shift
    exec "$VENV/bin/python" -m "experiments.bench_$what" "$@"
    ;;
  *)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
