#!/usr/bin/env bash
# Every verb the README lists (its "Verbs" table: | `fluxkit <verb>` | ...) answers --help with exit status 0,
# and the README and docs never point outside the repository (users do not have the developers' notes).
#   FLUXKIT=<fluxkit> SRC=<repo> bash tests/cli/test_readme_verbs.sh
set -euo pipefail
: "${FLUXKIT:?FLUXKIT must name the fluxkit binary}" "${SRC:?SRC must name the repository}"
passed=0
verbs="$(sed -n 's/^| `fluxkit \([a-z -]*\)` |.*/\1/p' "$SRC/README.md")"
[[ $(wc -l <<<"$verbs") -ge 8 ]] || { echo "FAIL  the README's verbs table: found only: $verbs"; echo "0 passed, 1 failed"; exit 1; }
while IFS= read -r verb; do
  # shellcheck disable=SC2086
  if ! "$FLUXKIT" $verb --help >/dev/null 2>&1; then
    echo "FAIL  fluxkit $verb --help (listed in README.md) exits $?"
    echo "$passed passed, 1 failed"
    exit 1
  fi
  passed=$((passed + 1))
done <<<"$verbs"
echo "ok    the README's $passed verbs answer --help"
if grep -rn "shared/" "$SRC/README.md" "$SRC/docs"; then
  echo "FAIL  README.md or docs/ point at shared/, which users do not have"
  echo "$passed passed, 1 failed"
  exit 1
fi
passed=$((passed + 1))
echo "ok    README.md and docs/ stand alone"
echo "$passed passed, 0 failed"
