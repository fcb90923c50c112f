#!/usr/bin/env bash
# Checks that every C++ source and header git tracks is formatted as .clang-format says, with
# Debian's clang-format (the same major version on every machine that runs it). Changes
# nothing: prints each file that differs and exits 1 when any does.
# Usage: deploy/lib/format_check.sh          (CLANG_FORMAT=clang-format-14 to pick a binary)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
fmt=${CLANG_FORMAT:-clang-format}
command -v "$fmt" >/dev/null || { echo "format check: $fmt is not installed" >&2; exit 1; }
mapfile -t files < <(git ls-files -- '*.cpp' '*.hpp' '*.h' '*.cc')
[ "${#files[@]}" -gt 0 ] || { echo "format check: no C++ files found" >&2; exit 1; }
bad=()
for f in "${files[@]}"; do
  "$fmt" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ "${#bad[@]}" -gt 0 ]; then
  printf '%s\n' "${bad[@]}"
  echo "format check: ${#bad[@]} of ${#files[@]} C++ files differ from .clang-format" \
       "(see the differences with: $fmt --dry-run FILE; fix with: $fmt -i FILE)" >&2
  exit 1
fi
echo "format check: ${#files[@]} C++ files match .clang-format"
