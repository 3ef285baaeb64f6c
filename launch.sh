#!/usr/bin/env bash
# crossjax launcher: sets up .venv (once, and again when pyproject.toml changes), then runs
#   ./launch.sh demo                     linear CCA on scikit-learn's digits halves
#   ./launch.sh test                     the whole test suite (what CI runs)
#   ./launch.sh train CONFIG [--config.key=value ...]   an experiment on this host
#   ./launch.sh train --processes N CONFIG [...]        N cooperating processes on this host
#   ./launch.sh reproduce NAME [NAME ...] a paper experiment: train (or resume) and evaluate
#   ./launch.sh reproduce --list|--table  the names / rebuild RESULTS.md from runs/
#   ./launch.sh bench                    every benchmark, then BENCHMARKS.md
#   ./launch.sh bench linear|dcca|steps|data|loop|newton_schulz|cca_zoo|dcca_cca_zoo  one benchmark (data: 26 GiB of views; cca_zoo, dcca_cca_zoo: beside cca_zoo in its own venv; none of these three in bench)
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
    # Two workers (pytest-xdist): the tests are mostly single-threaded compiles and processes.
    "$VENV/bin/python" -m pytest -x -q -n 2 tests "$@" || status=$?
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
    # A signal here (Ctrl-C reaches the processes too) is passed on as SIGTERM, which the
    # processes heed even before their training loop; in it they agree on a step to stop at,
    # save it and exit with 128 + the signal. A process that ends otherwise stops the others.
    signals=0
    trap 'signals=$((signals + 1)); kill -TERM "${pids[@]}" 2>/dev/null || true' TERM INT
    status=0 left=$processes
    while [ "$left" -gt 0 ]; do
      code=0 seen=$signals
      wait -n || code=$?
      [ "$signals" -eq "$seen" ] || continue  # the trap ended the wait: no process ended
      # (or one did as the trap came: then none is left to wait for at the end)
      [ "$code" -ne 127 ] || [ -n "$(jobs -rp)" ] || break
      left=$((left - 1))
      if [ "$code" -ne 0 ] && [ "$status" -eq 0 ]; then
        status=$code
        if [ "$signals" -eq 0 ]; then  # (after a stop they are stopping, or gone, already)
          echo "a training process ended (exit $code): stopping the others" >&2
          kill -TERM "${pids[@]}" 2>/dev/null || true
        fi
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
