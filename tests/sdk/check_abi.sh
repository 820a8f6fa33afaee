#!/usr/bin/env bash
# check_abi.sh — the SDK's ABI, as libabigail sees it, against the committed
# baseline.
#
#   check_abi.sh check    PROBE_SO BASELINE   # ctest: abidiff, fail on any change
#   check_abi.sh baseline PROBE_SO BASELINE   # the abi-baseline target: rewrite it
#
# PROBE_SO is the abi_probe library (tests/sdk/abi_probe.c, -g -O0), whose
# debug info holds every public SDK type. BASELINE is
# sdk/abi/iridium-sdk-MAJOR.MINOR.abi for the ABI version in abi.h. Both
# sides go through abidw with the same options, so build paths and line
# numbers never count as changes.
set -euo pipefail

usage() {
  echo "usage: $0 check|baseline PROBE_SO BASELINE" >&2
  exit 2
}
[[ $# -eq 3 ]] || usage
mode=$1 probe=$2 baseline=$3
[[ $mode == check || $mode == baseline ]] || usage

# Paths and locations out of the description: it must not depend on where the
# tree is checked out. Undefined symbols and DT_NEEDED depend on the build
# flags, not on the SDK.
abidw_opts=(--no-corpus-path --no-comp-dir-path --short-locs --no-elf-needed --drop-undefined-syms)

for tool in abidw abidiff; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "FAIL: $tool not found. It comes with Debian's abigail-tools package:" >&2
    echo "      bash .ci/dev deps   (or: apt-get install abigail-tools)" >&2
    exit 1
  fi
done
if [[ ! -f $probe ]]; then
  echo "FAIL: probe library $probe not found (build the tests first)" >&2
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/iridium-abi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Writes the ABI description of the probe to $1 and checks that it really
# describes the SDK: an empty or partial description would compare "equal".
dump() {
  abidw "${abidw_opts[@]}" --out-file "$1" "$probe"
  local t
  for t in ir_str ir_config_key ir_module_desc ir_host_api; do
    if ! grep -q "class-decl name='$t'" "$1"; then
      echo "FAIL: abidw found no struct $t in $probe: was it built with -g -O0?" >&2
      exit 1
    fi
  done
}

if [[ $mode == baseline ]]; then
  mkdir -p "$(dirname "$baseline")"
  dump "$tmp/new.abi"
  mv "$tmp/new.abi" "$baseline"
  echo "wrote $baseline"
  echo "Review it with 'git diff -- $(basename "$baseline")' and commit it with the header change."
  exit 0
fi

version=$(basename "$baseline" .abi)
version=${version#iridium-sdk-}
if [[ ! -f $baseline ]]; then
  cat >&2 <<EOF
FAIL: no ABI baseline for SDK ABI $version ($baseline).
A new ABI version needs its baseline: once the headers are final for it, run
    cmake --build build --target abi-baseline
and commit the new file (keep the older ones).
EOF
  exit 1
fi

dump "$tmp/current.abi"
rc=0
abidiff "$baseline" "$tmp/current.abi" >"$tmp/report.txt" 2>&1 || rc=$?
if [[ $rc -eq 0 ]]; then
  echo "OK: the SDK's ABI matches $(basename "$baseline")"
  exit 0
fi

# abidiff's status is a bitmask: 1 error, 2 usage error, 4 ABI change,
# 8 incompatible change.
what=()
((rc & 1)) && what+=("abidiff error")
((rc & 2)) && what+=("abidiff usage error")
((rc & 4)) && what+=("ABI change")
((rc & 8)) && what+=("INCOMPATIBLE ABI change")
echo "FAIL: the SDK headers no longer match the ABI baseline $(basename "$baseline")" \
  "(abidiff exit $rc: $(IFS=,; echo "${what[*]}"))."
echo "----- abidiff report -----"
cat "$tmp/report.txt"
echo "--------------------------"
cat <<EOF
Modules already built against SDK ABI $version rely on the old layout.
- If the change was not meant to touch the ABI, undo it.
- If it only appends (a new field at the end of a size-prefixed struct, a new
  enum value, a new type or function), it is an ABI addition: bump
  IR_ABI_MINOR in sdk/include/iridium/abi.h, extend tests/sdk/abi_layout.c,
  then write the new baseline deliberately:
      cmake --build build --target abi-baseline
  and commit sdk/abi/iridium-sdk-MAJOR.MINOR.abi with the change.
- If it moves, removes, retypes or renumbers anything that exists (abidiff's
  "incompatible" bit 8, or any changed offset, size of a used field, or enum
  value), it breaks every built module: that needs a major bump
  (IR_ABI_MAJOR), which is a project decision, not a fix for this test.
See CONTRIBUTING.md, "ABI rules".
EOF
exit 1
