#!/usr/bin/env bash
# lint.sh — the layout and static-analysis gates (the lint_format and lint_tidy tests).
#
#   scripts/lint.sh format           every tracked .c/.h file must be as clang-format lays it
#                                    out (.clang-format); prints the first differences
#   scripts/lint.sh fix              rewrites those files in place
#   scripts/lint.sh tidy <build-dir> clang-tidy (.clang-tidy) over the library's sources
#                                    (src/, arenas/, shim/), with the compile commands of
#                                    <build-dir> (configured with CMAKE_EXPORT_COMPILE_COMMANDS)
#
# A missing tool is an error, not a skip: scripts/deps.sh native installs both.
# Environment: JOBS (default 2) clang-tidy processes at once.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}

need() {
  command -v "$1" >/dev/null || { echo "lint.sh: $1 not found (scripts/deps.sh native)" >&2; exit 1; }
}

# The C files: git's list in a checkout, else every .c/.h under the top-level directories.
c_files() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -- '*.c' '*.h'
  else
    find src include arenas shim tests bench examples -name '*.[ch]' | sort
  fi
}

case "${1:-}" in
  format)
    need clang-format
    bad=0
    while IFS= read -r f; do
      if ! clang-format --dry-run --Werror "$f" 2>/dev/null; then
        if [ "$bad" -lt 5 ]; then clang-format "$f" | diff -u "$f" - | head -n 20 >&2 || true; fi
        echo "lint.sh: $f is not laid out as .clang-format says (scripts/lint.sh fix)" >&2
        bad=$((bad + 1))
      fi
    done < <(c_files)
    echo "lint.sh format: $(c_files | wc -l) files, $bad to fix"
    [ "$bad" -eq 0 ]
    ;;
  fix)
    need clang-format
    c_files | xargs -r clang-format -i
    ;;
  tidy)
    need clang-tidy
    build=${2:?usage: lint.sh tidy <build-dir>}
    [ -f "$build/compile_commands.json" ] ||
      { echo "lint.sh: no $build/compile_commands.json" >&2; exit 1; }
    files=$(ls src/*.c arenas/*.c shim/*.c)
    # clang-tidy exits non-zero on a finding (WarningsAsErrors); xargs then exits 123.
    if ! printf '%s\n' $files |
        xargs -P "$JOBS" -n 4 clang-tidy -p "$build" --quiet 2> >(grep -v 'warnings generated' >&2)
    then
      echo "lint.sh tidy: findings above (.clang-tidy lists the checks)" >&2
      exit 1
    fi
    echo "lint.sh tidy: $(printf '%s\n' $files | wc -l) files clean"
    ;;
  *)
    echo "usage: scripts/lint.sh format | fix | tidy <build-dir>" >&2
    exit 2
    ;;
esac
