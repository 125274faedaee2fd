#!/usr/bin/env bash
# CI: install the kit on each further supported Python the machine has (3.12, 3.13; make test covers .venv's)
# and run a quick subset there: imports and config, models, data, and notebook 00.
# Each version gets a fresh venv under $XMODAL_PY_VENVS (default: /tmp/xmodal_lab-pythons). A version is skipped
# with the reason printed when it is not installed, when the registry (PyPI) does not answer, or when fewer than
# MIN_S seconds are left of the BUDGET_S budget shared by all of them; an install or test failure fails CI.
set -uo pipefail
cd "$(dirname "$0")/.."
BUDGET_S=${XMODAL_PY_BUDGET_S:-1500}
MIN_S=${XMODAL_PY_MIN_S:-600}
VENVS=${XMODAL_PY_VENVS:-/tmp/xmodal_lab-pythons}
QUICK=(tests/test_config.py tests/test_environment.py tests/models tests/data --nbmake notebooks/00_welcome.ipynb)
start=$SECONDS
failed=()

find_python() {  # python3.12 on PATH, else pyenv's newest 3.12.x
    command -v "python$1" 2>/dev/null && return
    ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/python"$1" 2>/dev/null | sort -V | tail -1
}

if ! python3 -c 'import urllib.request; urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=10)' 2>/dev/null; then
    echo "ci: further Pythons skipped: https://pypi.org does not answer (torch for them comes from the registry)"
    exit 0
fi

for v in 3.12 3.13; do
    py=$(find_python "$v")
    if [ -z "$py" ]; then
        echo "ci: python$v skipped: not installed on this machine"
        continue
    fi
    left=$((BUDGET_S - (SECONDS - start)))
    if [ "$left" -lt "$MIN_S" ]; then
        echo "ci: python$v skipped: ${left} s left of the ${BUDGET_S} s budget, an install and the subset need ${MIN_S} s"
        continue
    fi
    venv="$VENVS/py$v"
    log="$VENVS/py$v-install.log"
    rm -rf "$venv" && mkdir -p "$VENVS"
    t0=$SECONDS
    echo "ci: python$v ($py): installing into $venv"
    if ! { "$py" -m venv "$venv" &&
        timeout "$left" "$venv/bin/python" -m pip install --quiet --upgrade "pip>=24" &&
        timeout "$left" "$venv/bin/python" -m pip install --quiet -c constraints.txt -e ".[dev]"; } >"$log" 2>&1; then
        echo "ci: python$v: the install failed or ran past ${left} s; last lines of $log:"
        tail -n 15 "$log"
        failed+=("$v install")
        continue
    fi
    t1=$SECONDS
    echo "ci: python$v: installed in $((t1 - t0)) s; quick subset"
    if ! OMP_NUM_THREADS=1 XMODAL_FAST=1 MPLBACKEND=Agg "$venv/bin/python" -m pytest -q -n 2 -p no:cacheprovider "${QUICK[@]}"; then
        failed+=("$v tests")
    fi
    echo "ci: python$v: subset ran in $((SECONDS - t1)) s"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "ci: further Pythons failed: ${failed[*]}"
    exit 1
fi
