#!/usr/bin/env bash
# Runs the real VK client libraries (vk_api and vkbottle from PyPI, vk-io from
# npm) against `vkconform mock --profile vk` (docs/clients.md).
#
#   clients/run.sh                 # installs the pinned client deps, runs both test sets
#   VKCONFORM_BIN=path clients/run.sh
#   CLIENTS_SKIP_INSTALL=1 clients/run.sh   # deps already installed
#
# Needs python3 (with pip) and node >= 18 with npm, and a built mock
# (target/release/vkconform, from `cargo build --release`, unless
# VKCONFORM_BIN names another). Every step is bounded; the whole run stops
# after BUDGET seconds (default 175). Exit status: 0 when every client test
# passed, non-zero otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
BUDGET="${BUDGET:-175}"
export VKCONFORM_BIN="${VKCONFORM_BIN:-$ROOT/target/release/vkconform}"
export PYTHONDONTWRITEBYTECODE=1

if [[ ! -x "$VKCONFORM_BIN" ]]; then
  echo "clients/run.sh: no mock binary at $VKCONFORM_BIN (run: cargo build --release)" >&2
  exit 2
fi

# Runs a step with at most `want` seconds, and never past the overall budget.
step() {
  local want="$1" name="$2"
  shift 2
  local left=$((BUDGET - SECONDS))
  if ((left <= 0)); then
    echo "clients/run.sh: out of time before: $name" >&2
    return 124
  fi
  ((want > left)) && want=$left
  echo "== $name (at most ${want}s)"
  timeout --kill-after=5 "$want" "$@"
}

status=0
if [[ -z "${CLIENTS_SKIP_INSTALL:-}" ]]; then
  step 75 "pip install clients/python/requirements.txt" \
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-input \
    -r "$ROOT/clients/python/requirements.txt"
  step 60 "npm ci (clients/node)" \
    npm ci --prefix "$ROOT/clients/node" --no-audit --no-fund --loglevel=error
fi

step 90 "pytest clients/python (vk_api, vkbottle)" \
  "$PYTHON" -m pytest -q -p no:cacheprovider --rootdir "$ROOT/clients/python" \
  "$ROOT/clients/python" || status=1

(cd "$ROOT/clients/node" && step 60 "node --test clients/node (vk-io)" \
  node --test --test-concurrency=1 --test-timeout=60000 vkio.test.mjs) || status=1

if ((status == 0)); then
  echo "clients/run.sh: every client test passed (${SECONDS}s)"
else
  echo "clients/run.sh: client tests FAILED (${SECONDS}s)" >&2
fi
exit "$status"
