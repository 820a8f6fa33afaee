#!/usr/bin/env bash
# check_abi.sh — the SDK's ABI, as libabigail sees it, against every committed
# baseline in sdk/abi/.
#
#   check_abi.sh check    PROBE_SO ABI_DIR VERSION   # ctest sdk_abi_check
#   check_abi.sh baseline PROBE_SO ABI_DIR VERSION   # the abi-baseline target
#
# PROBE_SO is the abi_probe library (tests/sdk/abi_probe.c, -g -O0), whose
# debug info holds every public SDK type. ABI_DIR is sdk/abi: one
# iridium-sdk-MAJOR.MINOR.abi per ABI version ever published, and
# appended-members.suppr. VERSION is MAJOR.MINOR from abi.h.
#
# check compares the probe with each baseline:
#   - the current version's (VERSION): no change at all, harmless ones
#     (a renamed member, a new enumerator) included;
#   - an older minor of the same major: only growth is allowed (members
#     appended to the size-prefixed structs, new enumerators, new functions).
#     Two comparisons: abidiff with appended-members.suppr, then abidiff
#     against the probe cut back to the old baseline's extent by
#     abi_prefix.py, with no type suppression (Debian 12's libabigail 2.2
#     applies has_data_member_inserted_at loosely; see the .suppr file);
#   - another major: not compared (a major bump is a break by definition).
# baseline runs the same older-minor comparisons, refuses when one fails,
# and otherwise writes ABI_DIR/iridium-sdk-VERSION.abi (left alone when
# abidiff finds no change in it). It never writes any other version's file:
# older baselines are records of published versions.
#
# Both sides go through abidw with the same options, so build paths and line
# numbers never count as changes.
set -euo pipefail

usage() {
  echo "usage: $0 check|baseline PROBE_SO ABI_DIR MAJOR.MINOR" >&2
  exit 2
}
[[ $# -eq 4 ]] || usage
mode=$1 probe=$2 abi_dir=$3 version=$4
[[ $mode == check || $mode == baseline ]] || usage
[[ $version =~ ^([0-9]+)\.([0-9]+)$ ]] || usage
cur_major=${BASH_REMATCH[1]} cur_minor=${BASH_REMATCH[2]}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
suppr=$abi_dir/appended-members.suppr
current_baseline=$abi_dir/iridium-sdk-$version.abi
python=/usr/bin/python3
[[ -x $python ]] || python=python3

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
if [[ ! -f $suppr ]]; then
  echo "FAIL: $suppr is missing: it says what growth an ABI minor may add" >&2
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

# abidiff's status is a bitmask: 1 error, 2 usage error, 4 ABI change,
# 8 incompatible change. Prints the bits of $1 in words.
status_words() {
  local rc=$1 what=()
  ((rc & 1)) && what+=("abidiff error")
  ((rc & 2)) && what+=("abidiff usage error")
  ((rc & 4)) && what+=("ABI change")
  ((rc & 8)) && what+=("INCOMPATIBLE change")
  (IFS=,; echo "${what[*]}")
}

# run_abidiff LABEL OUTFILE ARGS...: abidiff ARGS, its report appended to
# OUTFILE under LABEL when it is not silent. Returns abidiff's status.
run_abidiff() {
  local label=$1 out=$2 rc=0
  shift 2
  abidiff "$@" >"$tmp/one.txt" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then
    {
      echo "----- $label: abidiff exit $rc ($(status_words $rc))"
      cat "$tmp/one.txt"
    } >>"$out"
  fi
  return $rc
}

# exact BASELINE REPORT: no change at all. abidiff hides "harmless" changes
# (a renamed member, a new enumerator) unless asked with --harmless, which
# then shows only those: the second run is for what the first cannot see.
exact() {
  local base=$1 out=$2
  run_abidiff "abidiff" "$out" "$base" "$tmp/current.abi" &&
    run_abidiff "abidiff --harmless" "$out" --harmless "$base" "$tmp/current.abi"
}

# growth BASELINE REPORT: everything BASELINE describes is still there,
# unchanged; the rest is growth. Leaves what grew in $tmp/grown.txt.
growth() {
  local base=$1 out=$2 bad=0 cut=$tmp/prefix.abi name
  name=$(basename "$base")
  run_abidiff "abidiff --suppressions $(basename "$suppr")" "$out" \
    --suppressions "$suppr" "$base" "$tmp/current.abi" || bad=1
  if ! "$python" "$here/abi_prefix.py" "$base" "$tmp/current.abi" "$suppr" "$cut" \
    >"$tmp/grown.txt" 2>>"$out"; then
    echo "----- abi_prefix.py failed" >>"$out"
    return 1
  fi
  if run_abidiff "abidiff of the part $name describes (the rest cut off)" "$out" \
    --no-added-syms "$base" "$cut"; then
    run_abidiff "abidiff --harmless of the part $name describes (the rest cut off)" "$out" \
      --no-added-syms --harmless "$base" "$cut" || bad=1
  else
    bad=1
  fi
  return $bad
}

advice_current() {
  cat <<EOF
The SDK headers no longer match $(basename "$current_baseline"), the record of
ABI $version.
- If the change was not meant to touch the ABI, undo it.
- If it is an addition (a member appended to a size-prefixed struct, a new
  ir_host_api entry at the end, a new enumerator, type or function) and ABI
  $version has not been released yet, rewrite its baseline deliberately:
      cmake --build build --target abi-baseline
  and commit sdk/abi/iridium-sdk-$version.abi with the header change.
- If ABI $version has been released (modules may be built against it), an
  addition needs a new minor instead: bump IR_ABI_MINOR in
  sdk/include/iridium/abi.h, add a line to its ABI history, extend
  tests/sdk/abi_layout.c, then run the abi-baseline target, which writes
  the new version's file; keep $(basename "$current_baseline") as it is.
- If ABI $version has been released, anything that moves, removes, retypes,
  renames or renumbers what it had is a break: that needs a major bump
  (IR_ABI_MAJOR), a project decision, not a fix for this test.
See CONTRIBUTING.md, "ABI rules".
EOF
}

advice_older() {
  cat <<EOF
Modules built against ABI $1 load on every $cur_major.x host, this one
included, and this change breaks them.
- Never edit, regenerate or delete $2 to make this pass: a
  baseline is the record of what modules of its version were built against.
- An ABI minor may only grow: members appended at the end of a
  size-prefixed struct (those named in sdk/abi/appended-members.suppr; never
  into the old struct's tail padding), ir_host_api entries at the end, new
  enumerators with new values, new types and functions.
- Moving, removing, retyping, renaming or inserting in the middle, or
  renumbering an enumerator, is an ABI break: it needs a major bump
  (IR_ABI_MAJOR), which is a project decision made in an issue, not a fix
  for this test. Undo the change, or append instead.
See CONTRIBUTING.md, "ABI rules".
EOF
}

dump "$tmp/current.abi"

# Every committed baseline, sorted by version.
baselines=()
while IFS= read -r f; do
  baselines+=("$f")
done < <(find "$abi_dir" -maxdepth 1 -name 'iridium-sdk-*.abi' -printf '%f\n' | sort -V)

failed=0
have_current=0
current_failed=0
broken_versions=()
broken_files=()
for f in "${baselines[@]}"; do
  base=$abi_dir/$f
  v=${f#iridium-sdk-}
  v=${v%.abi}
  if [[ ! $v =~ ^([0-9]+)\.([0-9]+)$ ]]; then
    echo "FAIL: $f: not a baseline name (iridium-sdk-MAJOR.MINOR.abi)"
    failed=1
    continue
  fi
  major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
  report=$tmp/report-$v.txt
  : >"$report"
  if ((major != cur_major)); then
    echo "skip: $f is for ABI major $major; this SDK is $version"
  elif ((minor > cur_minor)); then
    echo "FAIL: $f is newer than the SDK's own version $version (abi.h)."
    echo "      An ABI version never goes down: restore IR_ABI_MINOR in abi.h."
    failed=1
  elif ((minor == cur_minor)); then
    have_current=1
    [[ $mode == baseline ]] && continue # about to be (re)written
    if exact "$base" "$report"; then
      echo "OK: ABI $version is unchanged ($f)"
    else
      echo "FAIL: ABI $version changed since $f was written"
      cat "$report"
      echo "-----"
      current_failed=1
      failed=1
    fi
  else
    if growth "$base" "$report"; then
      grown=$(sed 's/^/      /' "$tmp/grown.txt")
      echo "OK: compatible with ABI $v ($f): only growth"
      if [[ -n $grown ]]; then echo "$grown"; fi
    else
      echo "FAIL: INCOMPATIBLE with ABI $v ($f)"
      cat "$report"
      echo "-----"
      broken_versions+=("$v")
      broken_files+=("$f")
      failed=1
    fi
  fi
done

# "a, b": the words of an array, comma-separated.
join_commas() {
  local out=$1 w
  shift
  for w in "$@"; do out+=", $w"; done
  echo "$out"
}
if ((${#broken_versions[@]})); then
  advice_older "$(join_commas "${broken_versions[@]}")" "$(join_commas "${broken_files[@]}")"
fi
if ((current_failed)); then advice_current; fi

if [[ $mode == baseline ]]; then
  if ((failed)); then
    echo "abi-baseline: not writing $(basename "$current_baseline"): fix the failures above first." >&2
    exit 1
  fi
  existed=0
  [[ -f $current_baseline ]] && existed=1
  # Moved lines are not changes: keep the file when abidiff sees none.
  if ((existed)) && exact "$current_baseline" "$tmp/report-current.txt"; then
    echo "unchanged: $current_baseline (abidiff finds no change)"
    exit 0
  fi
  mv "$tmp/current.abi" "$current_baseline"
  echo "wrote $current_baseline"
  if ((existed)); then
    echo "It replaced the existing baseline of ABI $version: right only while $version"
    echo "is unreleased. Once modules may be built against it, bump the minor instead."
  fi
  echo "Review it (git status / git diff -- sdk/abi) and commit it with the header change;"
  echo "leave the other versions' baselines as they are."
  exit 0
fi

if ((!have_current)); then
  cat <<EOF
FAIL: no ABI baseline for SDK ABI $version ($current_baseline).
A new ABI version needs its baseline: once the headers are final for it, run
    cmake --build build --target abi-baseline
and commit the new file (keep the older ones: they are checked too).
EOF
  failed=1
fi
exit $failed
