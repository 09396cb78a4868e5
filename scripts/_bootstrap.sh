# Sourced by scripts/test and scripts/demo: make sure hatch (>= 1.16, for workspaces) and uv exist.
# Nothing else is installed by hand: the hatch environments install the three packages, and the
# pgcron dev server provisions PostgreSQL + pg_cron on first use (mmdebstrap, postgresql-15-cron).
#
# hatch and uv go into a private venv (PGCRON_TOOLS_VENV, default ~/.cache/pgcron/tools), so nothing is
# ever pip-installed into a system Python (PEP 668 "externally managed" Pythons are fine). The venv is
# made from the first interpreter that actually runs and reports a version >= 3.11: pyenv and asdf shims
# for a version that is installed but not selected exist on PATH yet fail when run, and an earlier
# entry on PATH may shadow a good interpreter of the same name, so every match on PATH is tried.
# As root on Debian, what is missing (python3, python3-venv) is installed with apt.
# Pure bash apart from the interpreters themselves (and apt-get / flock when present).
# shellcheck shell=bash

_pgcron_tools="${PGCRON_TOOLS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/pgcron/tools}"

_pgcron_say() { echo "pgcron: $*" >&2; }

# hatch and uv on PATH, both run, hatch >= 1.16 (workspace environments).
_pgcron_hatch_ok() {
  local out
  uv --version >/dev/null 2>&1 </dev/null || return 1
  out=$(hatch --version 2>/dev/null </dev/null) || return 1 # "Hatch, version 1.18.2"
  [[ $out =~ ([0-9]+)\.([0-9]+) ]] || return 1
  [ "${BASH_REMATCH[1]}" -gt 1 ] || { [ "${BASH_REMATCH[1]}" -eq 1 ] && [ "${BASH_REMATCH[2]}" -ge 16 ]; }
}

_pgcron_is_root_debian() {
  [ "${EUID:-$(id -u)}" -eq 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1
}

_pgcron_apt_install() {
  _pgcron_say "installing $* with apt-get (root on Debian)"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -qq update >&2 &&
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -qq install -y \
      --no-install-recommends "$@" >&2
}

# Sets _py (path) and _py_ver ("3.12") to the first fitting interpreter; appends the misfits to _tried.
_pgcron_find_python() {
  local name path ver rc found seen=" " missing=""
  local -a names=(python3.13 python3.12 python3.11 python3 python)
  [ -z "${PGCRON_PYTHON:-}" ] || names=("$PGCRON_PYTHON")
  _py="" _py_ver=""
  for name in "${names[@]}"; do
    found=""
    while IFS= read -r path; do
      [ -n "$path" ] || continue
      found=1
      case "$seen" in *" $path "*) continue ;; esac
      seen+="$path "
      if ver=$("$path" -c 'import sys; print("%d.%d" % sys.version_info[:2]); sys.exit(sys.version_info < (3, 11))' \
        </dev/null 2>/dev/null); then
        _py=$path _py_ver=$ver
        return 0
      else
        rc=$?
      fi
      if [ -n "$ver" ]; then
        _tried+=$'\n'"  $path: Python $ver"
      else
        _tried+=$'\n'"  $path: does not run (exit $rc)"
      fi
    done < <(type -P -a "$name" 2>/dev/null)
    [ -n "$found" ] || missing+=" $name"
  done
  [ -z "$missing" ] || _tried+=$'\n'"  not on PATH:$missing"
  return 1
}

# The apt package that gives $_py its venv module: python3-venv for Debian's default python3.
_pgcron_venv_package() {
  local default_ver
  default_ver=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null </dev/null)
  if [ "$default_ver" = "$_py_ver" ]; then echo python3-venv; else echo "python$_py_ver-venv"; fi
}

_pgcron_system_python() { # installed by the distribution (apt can add its venv module)
  case "$(readlink -f "$_py" 2>/dev/null || echo "$_py")" in /usr/bin/*) return 0 ;; *) return 1 ;; esac
}

# The private venv with hatch and uv, made from $_py.
_pgcron_make_tools_venv() {
  local err
  _pgcron_say "installing hatch and uv into $_pgcron_tools (Python $_py_ver, $_py)"
  if ! err=$("$_py" -m venv --clear "$_pgcron_tools" 2>&1 </dev/null); then
    # Debian and Ubuntu ship venv's pip bootstrap (ensurepip) in a separate package.
    if _pgcron_system_python && _pgcron_is_root_debian; then
      _pgcron_apt_install "$(_pgcron_venv_package)" || return 2
      err=$("$_py" -m venv --clear "$_pgcron_tools" 2>&1 </dev/null)
    fi
  fi
  if [ ! -x "$_pgcron_tools/bin/pip" ]; then
    _pgcron_say "'$_py -m venv' failed:"
    printf '  %s\n' "${err:-(no output)}" >&2
    if _pgcron_system_python; then
      _pgcron_say "on Debian/Ubuntu run: apt-get install $(_pgcron_venv_package)" \
        "(or point PGCRON_PYTHON at another Python >= 3.11)"
    else
      _pgcron_say "use a Python >= 3.11 that has venv/ensurepip: set PGCRON_PYTHON=/path/to/python3"
    fi
    return 2
  fi
  # PIP_USER=0: a user-level pip.conf with `user = true` would refuse to install into a venv.
  if ! PIP_USER=0 "$_pgcron_tools/bin/python" -m pip install -q --disable-pip-version-check \
    "hatch>=1.16" uv </dev/null >&2; then
    _pgcron_say "pip could not install hatch and uv into $_pgcron_tools (is PyPI reachable?)"
    return 2
  fi
}

_pgcron_bootstrap() {
  local lock_fd="" rc=0
  if [ -x "$_pgcron_tools/bin/hatch" ]; then
    export PATH="$_pgcron_tools/bin:$PATH"
  fi
  _pgcron_hatch_ok && return 0
  _tried=""
  if ! _pgcron_find_python; then
    if [ -z "${PGCRON_PYTHON:-}" ] && _pgcron_is_root_debian; then
      _pgcron_apt_install python3 python3-venv || true
      _tried=""
      _pgcron_find_python || true
    fi
    if [ -z "$_py" ]; then
      _pgcron_say "needs Python >= 3.11; tried:$_tried"
      _pgcron_say "install Python 3.11+ (Debian 12: apt-get install python3 python3-venv)," \
        "or set PGCRON_PYTHON=/path/to/python3.11"
      return 2
    fi
  fi
  # One builder at a time (scripts/demo and scripts/test may start together on a fresh machine).
  if command -v flock >/dev/null 2>&1 && mkdir -p "${_pgcron_tools%/*}" 2>/dev/null; then
    exec {lock_fd}>"$_pgcron_tools.lock"
    flock "$lock_fd"
  fi
  export PATH="$_pgcron_tools/bin:$PATH"
  if ! _pgcron_hatch_ok; then # the other builder may have finished while we waited
    _pgcron_make_tools_venv || rc=$?
    if [ "$rc" -eq 0 ] && ! _pgcron_hatch_ok; then
      _pgcron_say "hatch and uv were installed into $_pgcron_tools but do not run"
      rc=2
    fi
  fi
  if [ -n "$lock_fd" ]; then exec {lock_fd}>&-; fi
  return "$rc"
}

_pgcron_rc=0
_pgcron_bootstrap || _pgcron_rc=$?
if [ "$_pgcron_rc" -ne 0 ]; then
  exit "$_pgcron_rc"
fi
# hatch's environments use the interpreter this bootstrap validated, never whatever `python3.x` on PATH
# hatch's own discovery would find first.
if [ -z "${HATCH_PYTHON:-}" ] && [ "$(command -v hatch)" = "$_pgcron_tools/bin/hatch" ] &&
  [ -f "$_pgcron_tools/pyvenv.cfg" ]; then
  while IFS=' =' read -r _pgcron_key _pgcron_value; do
    if [ "$_pgcron_key" = executable ] && [ -x "$_pgcron_value" ]; then
      export HATCH_PYTHON="$_pgcron_value"
    fi
  done <"$_pgcron_tools/pyvenv.cfg"
fi
unset _py _py_ver _tried _pgcron_tools _pgcron_rc _pgcron_key _pgcron_value
unset -f _pgcron_say _pgcron_hatch_ok _pgcron_is_root_debian _pgcron_apt_install _pgcron_find_python \
  _pgcron_venv_package _pgcron_system_python _pgcron_make_tools_venv _pgcron_bootstrap
