#!/usr/bin/env bash
# out_of_tree.sh — sdk/README.md's "Build and run the example", step by step,
# the way a module author would: install the build into a private prefix,
# build sdk/examples/hello out of tree twice (CMake's find_package, then
# pkg-config + make), check each hello.so exports only the entry function,
# and serve it with the installed host: GET answers the greeting, a POST body
# comes back byte for byte. Nothing in the source or build tree is written
# except the build's install_manifest.txt.
#
#   out_of_tree.sh CMAKE BUILD_DIR SOURCE_DIR
#
# Every wait is bounded. KEEP_TMP=1 keeps the scratch folder for debugging.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -eq 3 ]] || {
  echo "usage: $0 CMAKE BUILD_DIR SOURCE_DIR" >&2
  exit 2
}
cmake=$1 build=$2 IRIDIUM_SRC=$3

make_tmp oot

step() { echo "== $*"; }
# Runs a command with its output in a log, shown only when it fails.
quiet() {
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    cat "$log"
    fail "command failed: $*"
  fi
}

PREFIX=$tmp/prefix
greeting="out-of-tree works"

# Step 1: install Iridium and the SDK into a prefix.
step "1. cmake --install $build --prefix $PREFIX"
quiet "$tmp/install.log" "$cmake" --install "$build" --prefix "$PREFIX"
[[ -x $PREFIX/bin/iridium ]] || fail "no $PREFIX/bin/iridium after install"
pcfile=$(find "$PREFIX" -name iridium-sdk.pc -print -quit)
[[ -n $pcfile ]] || fail "no iridium-sdk.pc under $PREFIX"
pcdir=$(dirname "$pcfile")
# The README says lib/pkgconfig; only a /usr-style prefix gets a multiarch lib.
[[ $pcdir == "$PREFIX/lib/pkgconfig" ]] || echo "note: iridium-sdk.pc is in $pcdir"
# The .pc file's moduledir is where the build installed its own modules.
moduledir=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=moduledir iridium-sdk)
[[ -f $moduledir/hello.so ]] || fail "pkg-config moduledir $moduledir holds no installed hello.so"

# Steps 2-3, twice: each way of building, in its own copy of the example.
# Step 2: copy the example out of the tree.
copy_example() {
  local WORK=$1
  mkdir -p "$WORK"
  cp -r "$IRIDIUM_SRC/sdk/examples/hello/." "$WORK/"
  # Leftovers of an in-tree experiment must not stand in for our build.
  rm -rf "$WORK/build" "$WORK/hello.so"
  [[ -f $WORK/hello.c ]] || fail "sdk/examples/hello/hello.c missing"
}

step "2-3. copy the example and build it with CMake (find_package)"
copy_example "$tmp/hello-cmake"
(
  cd "$tmp/hello-cmake"
  quiet "$tmp/cmake-configure.log" "$cmake" -S . -B build -DCMAKE_PREFIX_PATH="$PREFIX"
  quiet "$tmp/cmake-build.log" "$cmake" --build build
)
so_cmake=$tmp/hello-cmake/build/hello.so

step "2-3. copy the example and build it with pkg-config + make"
copy_example "$tmp/hello-make"
(
  cd "$tmp/hello-make"
  quiet "$tmp/make.log" env PKG_CONFIG_PATH="$pcdir" make
)
so_make=$tmp/hello-make/hello.so

# Step 4: the module exports exactly one symbol, the entry function.
check_exports() {
  local so=$1 defined
  [[ -f $so ]] || fail "$so was not built"
  defined=$(nm -D --defined-only "$so" | awk '{ print $NF }')
  if [[ $defined != "iridium_module_entry" ]]; then
    nm -D --defined-only "$so"
    fail "$so must export exactly iridium_module_entry; it exports: $(echo "$defined" | tr '\n' ' ')"
  fi
  # readelf agrees: one defined global symbol in .dynsym, and it is a function.
  local globals
  globals=$(readelf --dyn-syms -W "$so" | awk '$5 == "GLOBAL" && $7 != "UND" { print $4, $8 }')
  [[ $globals == "FUNC iridium_module_entry" ]] ||
    fail "readelf: unexpected dynamic symbols in $so: $globals"
}
step "4. check the exports"
check_exports "$so_cmake"
check_exports "$so_make"



# Steps 5-8 for one built hello.so.
serve_and_check() {
  local label=$1 so=$2
  local WORK=$tmp/run-$label
  local modules=$WORK/modules ini=$WORK/hello.ini log=$WORK/iridium.log
  local port attempt ready

  # Step 5: put it in a fresh modules folder.
  step "5. [$label] modules folder $modules"
  mkdir -p "$modules"
  cp "$so" "$modules/"

  # A free port can be taken between asking and binding: try a few.
  ready=0
  for attempt in 1 2 3; do
    port=$(free_port)
    # Step 6: enable it.
    step "6. [$label] write $ini (port $port)"
    cat >"$ini" <<EOF
[server]
modules_dir = $modules

[listen 127.0.0.1:$port]

[module hello]

[route /hello]
module = hello
greeting = $greeting
EOF
    # Step 7: check the configuration, then run it.
    step "7. [$label] iridium -t, then iridium -c"
    quiet "$WORK/check.log" timeout 30 "$PREFIX/bin/iridium" -t -c "$ini"
    if serve_until_ready "$PREFIX/bin/iridium" "$ini" "$log" "http://127.0.0.1:$port/hello"; then
      ready=1
      break
    fi
  done
  [[ $ready -eq 1 ]] || fail "[$label] iridium would not start"

  # Step 8: try it.
  step "8. [$label] curl http://127.0.0.1:$port/hello"
  local code body
  code=$(curl -sS --max-time 10 -o "$WORK/get.out" -w '%{http_code}' "http://127.0.0.1:$port/hello") ||
    fail "[$label] GET /hello failed"
  body=$(cat "$WORK/get.out") # $(...) drops a trailing newline, if the module sends one
  [[ $code == 200 ]] || fail "[$label] GET /hello: status $code, body: $body"
  [[ $body == "$greeting" ]] || fail "[$label] GET /hello: expected '$greeting', got '$body'"
  echo "GET /hello -> $code '$body'"

  step "8. [$label] curl --data-binary @file http://127.0.0.1:$port/hello"
  # Random bytes (NULs, CR/LF, everything), bigger than one read buffer, so
  # the echo goes through several on_body calls.
  head -c 300000 /dev/urandom >"$WORK/body.bin"
  code=$(curl -sS --max-time 30 --data-binary @"$WORK/body.bin" -o "$WORK/echo.out" \
    -w '%{http_code}' "http://127.0.0.1:$port/hello") || fail "[$label] POST /hello failed"
  [[ $code == 200 ]] || fail "[$label] POST /hello: status $code"
  if ! cmp "$WORK/body.bin" "$WORK/echo.out"; then
    fail "[$label] POST /hello: the echo differs ($(stat -c %s "$WORK/echo.out") bytes back," \
      "$(stat -c %s "$WORK/body.bin") sent)"
  fi
  echo "POST /hello -> $code, $(stat -c %s "$WORK/echo.out") bytes echoed exactly"

  # Stop it: SIGTERM, and a clean exit within 15 s.
  step "stop [$label]"
  kill -TERM "$server_pid"
  for ((i = 0; i < 150; i++)); do
    alive "$server_pid" || break
    sleep 0.1
  done
  if alive "$server_pid"; then
    cat "$log"
    fail "[$label] iridium still running 15 s after SIGTERM"
  fi
  local status=0
  wait "$server_pid" || status=$?
  server_pid=""
  if [[ $status -ne 0 ]]; then
    cat "$log"
    fail "[$label] iridium exited with status $status after SIGTERM (expected 0)"
  fi
}

serve_and_check cmake "$so_cmake"
serve_and_check make "$so_make"
echo "OK: hello built out of tree with find_package and with pkg-config, served by the installed iridium"
