# tests/sdk/lib.sh — helpers the SDK test scripts share: sourced, not run.
#
#   fail MSG...         print FAIL and exit 1
#   make_tmp NAME       mktemp -d into $tmp; removed at exit (KEEP_TMP=1 keeps
#                       it), and the server in $server_pid is killed first
#   alive PID           whether PID runs (a zombie child does not count)
#   free_port           a free loopback port (may be taken again: retry)

fail() {
  echo "FAIL: $*"
  exit 1
}

server_pid=""
tmp=""

lib_cleanup() {
  if [[ -n $server_pid ]]; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  [[ -n $tmp ]] || return 0
  if [[ ${KEEP_TMP:-0} == 1 ]]; then
    echo "kept $tmp"
  else
    rm -rf "$tmp"
  fi
}

make_tmp() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/iridium-$1.XXXXXX")
  trap lib_cleanup EXIT
}

# Not kill -0: our own child that exited stays a zombie, which kill -0
# still finds, until it is waited for.
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# serve_until_ready BIN INI LOG URL: starts `BIN -c INI` (output in LOG, pid
# in $server_pid) and waits up to 20 s (sanitizer builds start slowly) for
# URL to answer. Returns 0 when it does; 1 when the server exited first (its
# port was probably taken: write the INI with another port and call again).
# A server that runs but does not answer fails the test.
serve_until_ready() {
  local bin=$1 ini=$2 log=$3 url=$4 i
  "$bin" -c "$ini" </dev/null >"$log" 2>&1 &
  server_pid=$!
  for ((i = 0; i < 200; i++)); do
    alive "$server_pid" || break
    curl -s -o /dev/null --max-time 2 "$url" && return 0
    sleep 0.1
  done
  if alive "$server_pid"; then
    cat "$log"
    fail "iridium did not answer $url within 20 s"
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  echo "iridium exited before answering:"
  cat "$log"
  return 1
}
