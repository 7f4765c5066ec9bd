#!/usr/bin/env bash
# The one install of Rip City Ticket Dispatch: what `make` runs on a laptop or CI and what
# the cluster nodes' image (Dockerfile) runs, so the two cannot drift.
#
#   scripts/install.sh system                  Debian packages: chromium (Playwright drives it)
#   scripts/install.sh bench                   Debian packages of the benchmarks: wrk (load generator)
#   scripts/install.sh python VENV [EXTRAS] [--editable]
#                                              a venv at VENV with the project (and EXTRAS, e.g. dev)
#
# `system` / `bench` need root and apt-get; without them it says so and leaves the browser tests to
# skip. Idempotent: what is installed already is not installed again.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

#: Debian packages every node needs (chromium for the StubHub pages)
DEBIAN_PACKAGES=(chromium)
#: and the benchmarks (`make bench`): wrk outruns the API, Python load generators do not
BENCH_PACKAGES=(wrk)

debian() {
  local missing=() p
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || command -v "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  else
    echo "note: ${missing[*]} missing and cannot be installed here (needs root and apt-get);" \
         "the tests that need it will skip"
  fi
}

python_env() {
  local venv="$1" extras="${2:-}" editable="${3:-}"
  local python="${PYTHON:-python3}" spec="$here"
  test -x "$venv/bin/python" || "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip setuptools wheel
  if [ -n "$extras" ]; then spec="$here[$extras]"; fi
  if [ "$editable" = "--editable" ]; then
    "$venv/bin/pip" install -q -e "$spec" --config-settings editable_mode=compat
  else
    "$venv/bin/pip" install -q "$spec"
  fi
}

case "${1:-}" in
  system) debian "${DEBIAN_PACKAGES[@]}" ;;
  bench) debian "${BENCH_PACKAGES[@]}" ;;
  python) shift; python_env "$@" ;;
  packages) printf '%s\n' "${DEBIAN_PACKAGES[@]}" ;;
  *) echo "usage: $0 system | python VENV [EXTRAS] [--editable] | packages" >&2; exit 2 ;;
esac
