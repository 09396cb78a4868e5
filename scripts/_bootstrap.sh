# Sourced by scripts/test and scripts/demo: make sure hatch (>= 1.16, for workspaces) and uv exist.
# Nothing else is installed by hand: the hatch environments install the three packages, and the
# pgcron dev server provisions PostgreSQL + pg_cron on first use.
# shellcheck shell=bash

_pgcron_tools="${PGCRON_TOOLS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/pgcron/tools}"

_pgcron_hatch_ok() {
  command -v hatch >/dev/null 2>&1 && command -v uv >/dev/null 2>&1 || return 1
  # workspace environments need hatch >= 1.16
  hatch --version 2>/dev/null | awk '{split($NF, v, "."); exit !(v[1] > 1 || (v[1] == 1 && v[2] >= 16))}'
}

if [ -x "$_pgcron_tools/bin/hatch" ]; then
  export PATH="$_pgcron_tools/bin:$PATH"
fi
if ! _pgcron_hatch_ok; then
  # Try every candidate: a pyenv/asdf shim for a version that is installed but not selected exists on PATH
  # yet fails when run, so a candidate counts only if it runs and reports a version >= 3.11.
  _py=""
  _tried=""
  for _cand in "${PGCRON_PYTHON:-}" python3.13 python3.12 python3.11 python3 python; do
    [ -n "$_cand" ] || continue
    command -v "$_cand" >/dev/null 2>&1 || continue
    if _ver=$("$_cand" -c 'import sys; print("%d.%d" % sys.version_info[:2]); sys.exit(sys.version_info < (3, 11))' 2>/dev/null); then
      _py=$(command -v "$_cand")
      break
    fi
    _tried="$_tried $_cand(${_ver:-does not run})"
  done
  if [ -z "$_py" ]; then
    echo "pgcron: needs Python >= 3.11; tried:${_tried:- nothing on PATH}." >&2
    echo "pgcron: install Python 3.11+ (Debian: apt-get install python3), or set PGCRON_PYTHON=/path/to/python3.11" >&2
    exit 2
  fi
  echo "pgcron: installing hatch and uv into $_pgcron_tools" >&2
  # A private venv: works where pip may not install into the system Python (PEP 668).
  if ! "$_py" -m venv "$_pgcron_tools" >/dev/null 2>&1; then
    echo "pgcron: '$_py -m venv' failed; on Debian run: apt-get install python3-venv" >&2
    exit 2
  fi
  "$_pgcron_tools/bin/python" -m pip install -q --upgrade pip "hatch>=1.16" uv
  export PATH="$_pgcron_tools/bin:$PATH"
fi
unset _py _pgcron_tools _cand _ver _tried
