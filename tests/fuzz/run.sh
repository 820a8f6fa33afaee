#!/usr/bin/env bash
# tests/fuzz/run.sh — runs the libFuzzer targets of a build tree (what
# `bash .ci/dev fuzz` and `bash .ci/dev fuzz-coverage` call).
#
#   run.sh fuzz BUILD SECONDS WORK      each target for SECONDS
#                                       (-max_total_time), in a fresh corpus
#                                       WORK/corpus/TARGET seeded from
#                                       corpus/TARGET; crashes and leaks land
#                                       in WORK/artifacts/TARGET. Prints one
#                                       "fuzz TARGET: ok|FAILED ..." line each
#                                       and exits 1 if any failed.
#   run.sh coverage COVBUILD WORK       replays WORK/corpus/TARGET (-runs=0)
#                                       with targets built with
#                                       -DIRIDIUM_FUZZ_COVERAGE=ON, and prints
#                                       llvm-cov's line coverage of the core
#                                       and module files each target reaches.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
TARGETS=(fuzz_h1 fuzz_h2 fuzz_h2c_upgrade fuzz_ini fuzz_static_path fuzz_static_http fuzz_ws_codec
  fuzz_mqtt_packet)

# The files each target is meant to exercise, for its coverage line.
sources_of() {
  case $1 in
  fuzz_h1) echo core/conn.c core/h1.c core/stream.c core/bufq.c ;;
  fuzz_h2) echo core/conn.c core/h2.c core/stream.c core/bufq.c ;;
  fuzz_h2c_upgrade) echo core/conn.c core/h1.c core/h2.c core/stream.c ;;
  fuzz_ini) echo core/config.c ;;
  fuzz_static_path) echo modules/static/path.c ;;
  fuzz_static_http) echo modules/static/http_cond.c modules/static/encoding.c ;;
  fuzz_ws_codec) echo modules/websocket/codec.c modules/websocket/deflate.c modules/websocket/utf8.c ;;
  fuzz_mqtt_packet) echo modules/mqtt/packet.c modules/mqtt/topic.c ;;
  esac
}

fuzz() {
  local build=$1 seconds=$2 work=$3 failed=0 t
  for t in "${TARGETS[@]}"; do
    local corpus=$work/corpus/$t art=$work/artifacts/$t log=$work/$t.log
    rm -rf "$corpus" "$art"
    mkdir -p "$corpus" "$art"
    cp "$HERE/corpus/$t"/* "$corpus"/
    # fuzz_ini's config messages (stderr) would drown the log: -close_fd_mask
    # (libFuzzer keeps its reports and the sanitizers' on a copy of stderr).
    # The others keep stderr for the harness's own abort messages; the server
    # logs nothing (error_log = off). -timeout: an input taking 10 s is a hang.
    local mask=1
    [[ $t == fuzz_ini ]] && mask=3
    "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -close_fd_mask=$mask -print_final_stats=1 -artifact_prefix="$art/" "$corpus" >"$log" 2>&1
    local rc=$? stats
    stats=$(awk '/^stat::number_of_executed_units/ {n=$2} /^stat::average_exec_per_sec/ {s=$2}
                 /^#[0-9]+.*cov:/ {c=$0; sub(/.*cov: /, "", c); sub(/ .*/, "", c)}
                 END {printf "%s execs, %s exec/s, cov %s", n, s, c}' "$log")
    if [[ $rc -eq 0 ]]; then
      echo "fuzz $t: ok ($stats, corpus $(ls "$corpus" | wc -l) files)"
    else
      failed=1
      echo "fuzz $t: FAILED (exit $rc; $stats): $(ls "$art" | tr '\n' ' ')"
      grep -E '^(==[0-9]+==ERROR|SUMMARY)' "$log" | head -n 3 | sed 's/^/    /'
    fi
  done
  return $failed
}

coverage() {
  local build=$1 work=$2 t
  for t in "${TARGETS[@]}"; do
    local prof=$work/$t.profraw data=$work/$t.profdata
    [[ -d $work/corpus/$t ]] || { echo "coverage $t: no corpus in $work (run fuzz first)"; continue; }
    LLVM_PROFILE_FILE=$prof "$build/tests/fuzz/$t" -runs=0 -close_fd_mask=3 \
      "$work/corpus/$t" >/dev/null 2>&1
    llvm-profdata-14 merge -sparse "$prof" -o "$data" || return 1
    local files=() f
    for f in $(sources_of "$t"); do files+=("$SRC/$f"); done
    echo "coverage $t:"
    llvm-cov-14 report "$build/tests/fuzz/$t" -instr-profile="$data" "${files[@]}" |
      awk -v src="$SRC/" 'NR > 2 && NF >= 10 && !/^-/ {if (index($1, src) == 1) $1 = substr($1, length(src) + 1); printf "    %-28s lines %s\n", $1, $10}'
  done
}

case ${1:-} in
fuzz) fuzz "$2" "$3" "$4" ;;
coverage) coverage "$2" "$3" ;;
*) sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
esac
