#!/usr/bin/env bash
# Builds the libFuzzer harnesses of the rc and obsdb parsers with Debian's clang (packages clang,
# libclang-rt-14-dev; ASan+UBSan) and runs each for a while, or replays the committed corpus once.
#
#   fuzz/run.sh [SECONDS] [OUT]     build into OUT (default build-fuzz), fuzz each harness SECONDS (default 60);
#                                   new inputs go to OUT/corpus_<name>, crashes to OUT/crash_<name>-*
#   fuzz/run.sh --regress [OUT]     build, then run every input of tests/transport/fuzz_corpus/<name>/ once
#                                   (a quick regression; exit status non-zero on any finding)
#
# Add a crashing input to the corpus once fixed: cp OUT/crash_rc-<hash> tests/transport/fuzz_corpus/rc/
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=fuzz
if [[ "${1:-}" == "--regress" ]]; then
  MODE=regress
  shift
  SECONDS_EACH=0
else
  SECONDS_EACH=${1:-60}
  shift || true
fi
OUT=$(realpath -m "${1:-$SRC/build-fuzz}")
CXX=${CXX:-clang++}
mkdir -p "$OUT"

FLAGS=(-std=c++20 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -I"$SRC/include")
build() {
  local name=$1
  shift
  local bin="$OUT/fuzz_$name"
  # Rebuild only when a source or header is newer than the binary.
  local newer=1
  if [[ -x "$bin" ]]; then
    newer=0
    for f in "$@" "$SRC"/include/fluxkit/transport/*.hpp "$SRC"/include/fluxkit/core/*.hpp; do
      if [[ "$f" != -* && "$f" -nt "$bin" ]]; then newer=1; fi
    done
  fi
  if (( newer )); then
    echo "building $bin"
    nice "$CXX" "${FLAGS[@]}" -o "$bin" "$@"
  fi
}
build rc "$SRC/fuzz/fuzz_rc.cpp" "$SRC/src/transport/rc.cpp" -lfmt
build obsdb "$SRC/fuzz/fuzz_obsdb.cpp" "$SRC/src/transport/obsdb.cpp" "$SRC/src/core/atomic_file.cpp" -lz -lfmt

# Dictionaries: the tokens that matter to each format.
cat > "$OUT/rc.dict" <<'DICT'
":"
" : "
"!"
"#include "
"${"
"}"
","
"."
"*"
"\x0a"
"\x0d\x0a"
"a.rc"
"sub/d.rc"
"c.rc"
"emissions.*.optimize"
"T"
"False"
DICT
cat > "$OUT/obsdb.dict" <<'DICT'
","
"\x22"
"\x22\x22"
"\x0a"
"\x0d\x0a"
"observations.csv"
"sites.csv"
"files.csv"
"./"
"ustar\x0000"
"ustar  \x00"
"path="
"size="
"nan"
"inf"
"e+"
"e-"
"\x1f\x8b\x08"
DICT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for name in rc obsdb; do
  corpus="$SRC/tests/transport/fuzz_corpus/$name"
  if [[ "$MODE" == regress ]]; then
    mapfile -t inputs < <(find "$corpus" -type f | sort)
    echo "fuzz_$name: replaying ${#inputs[@]} corpus inputs"
    "$OUT/fuzz_$name" -rss_limit_mb=2048 "${inputs[@]}" >"$OUT/regress_$name.log" 2>&1 || {
      status=1
      tail -40 "$OUT/regress_$name.log"
    }
  else
    mkdir -p "$OUT/corpus_$name"
    echo "fuzz_$name: ${SECONDS_EACH}s"
    "$OUT/fuzz_$name" -max_total_time="$SECONDS_EACH" -max_len=16384 -rss_limit_mb=2048 -timeout=10 \
      -dict="$OUT/$name.dict" -artifact_prefix="$OUT/crash_$name-" -print_final_stats=1 \
      "$OUT/corpus_$name" "$corpus" 2>&1 | tee "$OUT/fuzz_$name.log" | grep -E "^#[0-9]+ +(DONE|INITED)|ERROR|stat::number_of_executed_units|SUMMARY|Test unit written" || true
    if grep -qE "ERROR: |Test unit written|deadly signal" "$OUT/fuzz_$name.log"; then status=1; fi
  fi
done
exit $status
