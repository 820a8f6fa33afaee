#!/usr/bin/env bash
# target_minor.sh — sdk/README.md's "Building for older hosts", step by step,
# against the installed SDK as out_of_tree.sh does: the hello example built
# for ABI 1.0 (IR_ABI_TARGET_MINOR=0) through CMake's variable, through
# iridium_add_module's TARGET_MINOR, through pkg-config + make, and through
# the plain cc recipe with gcc and with clang, declares 1.0 (module_abi reads
# its descriptor as the host does), and the installed host serves it. The
# same module with a 1.3 call (ir_resp_header_ref) does not compile for 1.0,
# and every compiler's message names 1.3; built for 1.3 it compiles and
# declares 1.3. A target above the SDK's minor is refused by the CMake
# package and by the headers. Without a target, a module declares the SDK's
# own minor.
#
#   target_minor.sh CMAKE BUILD_DIR SOURCE_DIR MODULE_ABI SDK_ABI_VERSION
#
# Every wait is bounded. KEEP_TMP=1 keeps the scratch folder for debugging.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -eq 5 ]] || {
  echo "usage: $0 CMAKE BUILD_DIR SOURCE_DIR MODULE_ABI SDK_ABI_VERSION" >&2
  exit 2
}
cmake=$1 build=$2 IRIDIUM_SRC=$3 module_abi=$4 sdk_abi=$5
sdk_major=${sdk_abi%%.*} sdk_minor=${sdk_abi#*.}

make_tmp target

step() { echo "== $*"; }
quiet() {
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    cat "$log"
    fail "command failed: $*"
  fi
}
# must_fail LOG TEXT CMD...: CMD fails, and its output holds TEXT.
must_fail() {
  local log=$1 text=$2
  shift 2
  if "$@" >"$log" 2>&1; then
    cat "$log"
    fail "expected to fail: $*"
  fi
  if ! grep -qF -- "$text" "$log"; then
    cat "$log"
    fail "the failure of '$*' does not say: $text"
  fi
  echo "refused as expected: $(grep -F -m1 -- "$text" "$log")"
}
# declares SO M.m: the descriptor of SO says ABI M.m, with that minor's size.
declares() {
  local so=$1 want=$2 out
  [[ -f $so ]] || fail "$so was not built"
  out=$("$module_abi" "$so") || fail "module_abi $so: $out"
  [[ $out == "ABI $want "* ]] || fail "$so declares '$out'; expected ABI $want"
  echo "$so: $out"
}

PREFIX=$tmp/prefix
greeting="built for 1.0"

step "install $build into $PREFIX (README, Build and run the example, step 1)"
quiet "$tmp/install.log" "$cmake" --install "$build" --prefix "$PREFIX"
pcdir=$(dirname "$(find "$PREFIX" -name iridium-sdk.pc -print -quit)")
[[ -f $pcdir/iridium-sdk.pc ]] || fail "no iridium-sdk.pc under $PREFIX"

# Step 2 of "Build and run the example": the example, out of the tree.
copy_example() {
  local WORK=$1
  mkdir -p "$WORK"
  cp -r "$IRIDIUM_SRC/sdk/examples/hello/." "$WORK/"
  rm -rf "$WORK/build" "$WORK/hello.so"
}

# ---- 1. build hello for ABI 1.0, each way ----
step "1. CMake, -DIRIDIUM_ABI_TARGET_MINOR=0"
copy_example "$tmp/cmake-var"
(
  cd "$tmp/cmake-var"
  quiet "$tmp/cmake-var.log" "$cmake" -S . -B build -DCMAKE_PREFIX_PATH="$PREFIX" \
    -DIRIDIUM_ABI_TARGET_MINOR=0
  quiet "$tmp/cmake-var-build.log" "$cmake" --build build
)
declares "$tmp/cmake-var/build/hello.so" "$sdk_major.0"

step "1. CMake, iridium_add_module(hello TARGET_MINOR 0 hello.c)"
copy_example "$tmp/cmake-arg"
sed -i 's/^iridium_add_module(hello hello.c)$/iridium_add_module(hello TARGET_MINOR 0 hello.c)/' \
  "$tmp/cmake-arg/CMakeLists.txt"
grep -q 'TARGET_MINOR 0 hello.c' "$tmp/cmake-arg/CMakeLists.txt" ||
  fail "the example's CMakeLists.txt has no 'iridium_add_module(hello hello.c)' line to change"
(
  cd "$tmp/cmake-arg"
  quiet "$tmp/cmake-arg.log" "$cmake" -S . -B build -DCMAKE_PREFIX_PATH="$PREFIX"
  quiet "$tmp/cmake-arg-build.log" "$cmake" --build build
)
declares "$tmp/cmake-arg/build/hello.so" "$sdk_major.0"

step "1. pkg-config + make TARGET_MINOR=0"
copy_example "$tmp/make"
(
  cd "$tmp/make"
  quiet "$tmp/make.log" env PKG_CONFIG_PATH="$pcdir" make TARGET_MINOR=0
)
declares "$tmp/make/hello.so" "$sdk_major.0"

# The plain recipe, with each compiler there is.
compilers=()
for c in gcc clang; do command -v "$c" >/dev/null && compilers+=("$c"); done
[[ ${#compilers[@]} -gt 0 ]] || fail "neither gcc nor clang found"
cc_recipe() { # CC DIR TARGET: the README's cc line, in DIR
  local c=$1 dir=$2 target=$3
  (cd "$dir" && "$c" $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags iridium-sdk) \
    -DIR_ABI_TARGET_MINOR="$target" -fPIC -fvisibility=hidden -shared -o hello.so hello.c)
}
for c in "${compilers[@]}"; do
  step "1. $c \$(pkg-config --cflags iridium-sdk) -DIR_ABI_TARGET_MINOR=0 ..."
  copy_example "$tmp/cc-$c"
  quiet "$tmp/cc-$c.log" cc_recipe "$c" "$tmp/cc-$c" 0
  declares "$tmp/cc-$c/hello.so" "$sdk_major.0"
done

step "control: no target, the SDK's own minor"
copy_example "$tmp/default"
(
  cd "$tmp/default"
  quiet "$tmp/default.log" "$cmake" -S . -B build -DCMAKE_PREFIX_PATH="$PREFIX"
  quiet "$tmp/default-build.log" "$cmake" --build build
)
declares "$tmp/default/build/hello.so" "$sdk_abi"

# ---- 2. run it: the installed host serves the 1.0 builds ----
serve_and_check() {
  local label=$1 so=$2
  local WORK=$tmp/run-$label
  local ini=$WORK/hello.ini log=$WORK/iridium.log port attempt ready=0 code body
  mkdir -p "$WORK/modules"
  cp "$so" "$WORK/modules/"
  for attempt in 1 2 3; do
    port=$(free_port)
    cat >"$ini" <<INI
[server]
modules_dir = $WORK/modules

[listen 127.0.0.1:$port]

[module hello]

[route /hello]
module = hello
greeting = $greeting
INI
    quiet "$WORK/check.log" timeout 30 "$PREFIX/bin/iridium" -t -c "$ini"
    if serve_until_ready "$PREFIX/bin/iridium" "$ini" "$log" "http://127.0.0.1:$port/hello"; then
      ready=1
      break
    fi
  done
  [[ $ready -eq 1 ]] || fail "[$label] iridium would not start"
  code=$(curl -sS --max-time 10 -o "$WORK/get.out" -w '%{http_code}' "http://127.0.0.1:$port/hello") ||
    fail "[$label] GET /hello failed"
  body=$(cat "$WORK/get.out")
  [[ $code == 200 && $body == "$greeting" ]] ||
    fail "[$label] GET /hello: expected 200 '$greeting', got $code '$body'"
  echo "[$label] GET /hello -> $code '$body'"
  head -c 200000 /dev/urandom >"$WORK/body.bin"
  code=$(curl -sS --max-time 30 --data-binary @"$WORK/body.bin" -o "$WORK/echo.out" \
    -w '%{http_code}' "http://127.0.0.1:$port/hello") || fail "[$label] POST /hello failed"
  [[ $code == 200 ]] && cmp -s "$WORK/body.bin" "$WORK/echo.out" ||
    fail "[$label] POST /hello: status $code, echo differs"
  echo "[$label] POST /hello -> $code, $(stat -c %s "$WORK/echo.out") bytes echoed exactly"
  kill -TERM "$server_pid"
  for ((i = 0; i < 150; i++)); do
    alive "$server_pid" || break
    sleep 0.1
  done
  alive "$server_pid" && { cat "$log"; fail "[$label] iridium still running 15 s after SIGTERM"; }
  local status=0
  wait "$server_pid" || status=$?
  server_pid=""
  [[ $status -eq 0 ]] || { cat "$log"; fail "[$label] iridium exited $status after SIGTERM"; }
}
step "2. serve the 1.0 builds with the installed host"
serve_and_check cmake-var "$tmp/cmake-var/build/hello.so"
serve_and_check make "$tmp/make/hello.so"

# ---- 3. a 1.3 call: the build for 1.0 stops, naming 1.3 ----
want="ir_resp_header_ref needs SDK ABI $sdk_major.3; this module targets $sdk_major.0"
newer() { # DIR: the example with the README's one-line change
  copy_example "$1"
  sed -i 's/ir_resp_header(s, "allow", "GET, HEAD, POST, PUT");/ir_resp_header_ref(s, "allow", 5, "GET, HEAD, POST, PUT", 20);/' \
    "$1/hello.c"
  grep -qF 'ir_resp_header_ref(s, "allow", 5,' "$1/hello.c" ||
    fail "hello.c has no 'ir_resp_header(s, \"allow\", ...)' line to change (README step 3)"
}
step "3. hello.c with ir_resp_header_ref, CMake for 1.0"
newer "$tmp/newer-cmake"
(
  cd "$tmp/newer-cmake"
  quiet "$tmp/newer-cmake.log" "$cmake" -S . -B build -DCMAKE_PREFIX_PATH="$PREFIX" \
    -DIRIDIUM_ABI_TARGET_MINOR=0
  must_fail "$tmp/newer-cmake-build.log" "$want" "$cmake" --build build
)
step "3. ... make TARGET_MINOR=0 with each compiler"
for c in "${compilers[@]}"; do
  newer "$tmp/newer-make-$c"
  (
    cd "$tmp/newer-make-$c"
    must_fail "$tmp/newer-make-$c.log" "$want" env PKG_CONFIG_PATH="$pcdir" make CC="$c" TARGET_MINOR=0
  )
done
step "3. ... raise the target to 3: it builds and declares 1.3"
(
  cd "$tmp/newer-cmake"
  quiet "$tmp/newer-cmake3.log" "$cmake" -S . -B build3 -DCMAKE_PREFIX_PATH="$PREFIX" \
    -DIRIDIUM_ABI_TARGET_MINOR=3
  quiet "$tmp/newer-cmake3-build.log" "$cmake" --build build3
)
declares "$tmp/newer-cmake/build3/hello.so" "$sdk_major.3"

# ---- a target above the SDK's own minor: refused ----
above=$((sdk_minor + 1))
step "a target of $above: refused by the CMake package and by the headers"
copy_example "$tmp/above"
(
  cd "$tmp/above"
  must_fail "$tmp/above-cmake.log" "target minor '$above' is not one this SDK" \
    "$cmake" -S . -B build -DCMAKE_PREFIX_PATH="$PREFIX" -DIRIDIUM_ABI_TARGET_MINOR=$above
)
for c in "${compilers[@]}"; do
  must_fail "$tmp/above-$c.log" "IR_ABI_TARGET_MINOR asks for ABI $sdk_major.$above; this SDK (ABI $sdk_abi)" \
    cc_recipe "$c" "$tmp/above" "$above"
done

echo "OK: hello built for ABI $sdk_major.0 five ways declares $sdk_major.0 and is served; a $sdk_major.3 call does not compile for $sdk_major.0; a target above $sdk_abi is refused"
