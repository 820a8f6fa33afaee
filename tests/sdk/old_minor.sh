#!/usr/bin/env bash
# old_minor.sh — today's host runs a module built for the oldest supported
# SDK of its major (tests/sdk/old_minor.c: ABI MAJOR.0, 1.0-sized
# descriptor), as DESIGN.md's "SDK ABI" asks of CI.
#
#   old_minor.sh IRIDIUM OLD_MINOR_SO
#
# 1. iridium -t loads it: exit 0.
# 2. iridium serves it: GET /old answers "old module ok".
# 3. The module never said it takes upgraded streams: a 1.0 descriptor has
#    no flags, and the junk old_minor.c leaves past its struct_size must
#    not count. So a request asking for an upgrade (Connection: upgrade,
#    Upgrade: websocket) is an ordinary request to it (200, same answer),
#    and the listener's HTTP/2 SETTINGS (h2c, prior knowledge) do not offer
#    extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL), which a listener
#    serving an IR_MODULE_UPGRADES route does.
# 4. SIGTERM: a clean exit, status 0.
# Every wait is bounded. KEEP_TMP=1 keeps the scratch folder.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -eq 2 ]] || {
  echo "usage: $0 IRIDIUM OLD_MINOR_SO" >&2
  exit 2
}
iridium=$1 so=$2
want="old module ok"

[[ -x $iridium ]] || fail "host binary $iridium not found"
[[ -f $so ]] || fail "module $so not found"

make_tmp oldminor



dir=$(cd "$(dirname "$so")" && pwd)
ini=$tmp/iridium.ini
log=$tmp/iridium.log

write_ini() {
  cat >"$ini" <<EOF
[server]
modules_dir = $dir
error_log = stderr

[listen 127.0.0.1:$1]
protocols = http/1.1, h2c

[module old]
path = $(basename "$so")

[route /old]
module = old
EOF
}

# 1. -t: load and check only.
write_ini "$(free_port)"
rc=0
timeout 30 "$iridium" -t -c "$ini" </dev/null >"$tmp/check.log" 2>&1 || rc=$?
if [[ $rc -ne 0 ]]; then
  cat "$ini" "$tmp/check.log"
  fail "iridium -t exited $rc; expected 0 for a module built for ABI 1.0 ($so)"
fi
echo "OK: iridium -t accepts $so"

# 2. Serve it. A free port can be taken between asking and binding: try a few.
ready=0
for attempt in 1 2 3; do
  port=$(free_port)
  write_ini "$port"
  if serve_until_ready "$iridium" "$ini" "$log" "http://127.0.0.1:$port/old"; then
    ready=1
    break
  fi
done
[[ $ready -eq 1 ]] || fail "iridium would not start"

# get LABEL CURL_ARGS...: a GET of /old that must answer 200 "old module ok".
get() {
  local label=$1 code body
  shift
  code=$(curl -sS --max-time 10 -o "$tmp/body" -w '%{http_code}' "$@" "http://127.0.0.1:$port/old") ||
    { cat "$log"; fail "$label: curl failed"; }
  body=$(cat "$tmp/body") # $(...) drops the trailing newline
  if [[ $code != 200 || $body != "$want" ]]; then
    cat "$log"
    fail "$label: expected 200 '$want', got $code '$body'"
  fi
  echo "OK: $label -> $code '$body'"
}
get "GET /old"
get "GET /old asking for an upgrade" -H "Connection: upgrade" -H "Upgrade: websocket"

# The server's first SETTINGS frame over h2c, as "id=value" words.
settings=$(
  python3 - "$port" <<'EOF'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
# The client preface, then an empty SETTINGS frame.
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
buf = b""
while len(buf) < 9 or len(buf) < 9 + int.from_bytes(buf[:3], "big"):
    chunk = s.recv(65536)
    if not chunk:
        sys.exit("the server closed the connection before its SETTINGS")
    buf += chunk
length, ftype = int.from_bytes(buf[:3], "big"), buf[3]
if ftype != 4:
    sys.exit(f"the server's first frame is type {ftype}, not SETTINGS")
payload = buf[9:9 + length]
print(" ".join("%d=%d" % struct.unpack(">HI", payload[i:i + 6]) for i in range(0, length, 6)))
EOF
) || { cat "$log"; fail "no HTTP/2 SETTINGS from the h2c listener"; }
echo "OK: h2c SETTINGS: ${settings:-(none)}"
if [[ " $settings " == *" 8=1 "* ]]; then
  cat "$log"
  fail "the listener offers extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL = 1) for a" \
    "route whose module is ABI 1.0: the host read flags past the descriptor's struct_size"
fi

# 4. Stop it: SIGTERM, and a clean exit within 15 s.
kill -TERM "$server_pid"
for ((i = 0; i < 150; i++)); do
  alive "$server_pid" || break
  sleep 0.1
done
if alive "$server_pid"; then
  cat "$log"
  fail "iridium still running 15 s after SIGTERM"
fi
status=0
wait "$server_pid" || status=$?
server_pid=""
if [[ $status -ne 0 ]]; then
  cat "$log"
  fail "iridium exited with status $status after SIGTERM (expected 0)"
fi
echo "OK: a module built for ABI 1.0 loads and serves on this host"
