#!/usr/bin/env bash
# module_load.sh — loads one module with `iridium -t -c INI` (check the
# configuration and load the modules, serve nothing) and checks the verdict.
#
#   module_load.sh IRIDIUM accept SO NAME [KEY=VALUE...]
#       exit 0 expected; KEY=VALUE lines go into the module's route.
#   module_load.sh IRIDIUM refuse SO NAME [TEXT...]
#       exit 1 expected, and one stderr line holding the full path of SO and
#       every TEXT (e.g. the module's and the host's ABI versions).
#
# The INI names the module as its modules_dir plus file name, so the path the
# host reports is "$(dirname SO)/$(basename SO)".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -ge 4 ]] || {
  echo "usage: $0 IRIDIUM accept|refuse SO NAME [KEY=VALUE... | TEXT...]" >&2
  exit 2
}
iridium=$1 mode=$2 so=$3 name=$4
shift 4

[[ -x $iridium ]] || fail "host binary $iridium not found"
[[ -f $so ]] || fail "module $so not found"

make_tmp modload

# A free port: -t binds it once to check it, then lets it go.
port=$(free_port)

dir=$(cd "$(dirname "$so")" && pwd)
file=$(basename "$so")
path="$dir/$file"
ini="$tmp/iridium.ini"
{
  echo "[server]"
  echo "modules_dir = $dir"
  echo "error_log = stderr"
  echo
  echo "[listen 127.0.0.1:$port]"
  echo
  echo "[module $name]"
  echo "path = $file"
  echo
  echo "[route /$name]"
  echo "module = $name"
  if [[ $mode == accept ]]; then
    for kv in "$@"; do
      echo "${kv%%=*} = ${kv#*=}"
    done
  fi
} >"$ini"

rc=0
timeout 30 "$iridium" -t -c "$ini" </dev/null >"$tmp/stdout" 2>"$tmp/stderr" || rc=$?

show() {
  echo "--- $ini"
  cat "$ini"
  echo "--- stdout"
  cat "$tmp/stdout"
  echo "--- stderr"
  cat "$tmp/stderr"
  echo "---"
}

case $mode in
accept)
  if [[ $rc -ne 0 ]]; then
    show
    fail "iridium -t exited $rc; expected 0 for a good module ($path)"
  fi
  echo "OK: $path accepted"
  ;;
refuse)
  if [[ $rc -eq 124 ]]; then
    show
    fail "iridium -t did not finish within 30 s"
  fi
  if [[ $rc -ne 1 ]]; then
    show
    fail "iridium -t exited $rc; expected 1 (module $path refused)"
  fi
  # One line must say it all: the file, and each expected piece of text.
  found=""
  while IFS= read -r line; do
    [[ $line == *"$path"* ]] || continue
    ok=1
    for text in "$@"; do
      [[ $line == *"$text"* ]] || ok=0
    done
    if [[ $ok -eq 1 ]]; then
      found=$line
      break
    fi
  done <"$tmp/stderr"
  if [[ -z $found ]]; then
    show
    want="'$path'"
    for text in "$@"; do want+=", '$text'"; done
    fail "no stderr line contains all of: $want"
  fi
  echo "OK: refused: $found"
  ;;
*)
  fail "unknown mode $mode"
  ;;
esac
