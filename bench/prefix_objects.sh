#!/usr/bin/env bash
# prefix_objects.sh CC NM OBJCOPY PREFIX OUT OBJ... — merge OBJs into one relocatable object OUT
# in which every defined global symbol is renamed PREFIX<name> (references inside OUT follow;
# undefined symbols such as memcpy are left alone). Used by bench/CMakeLists.txt to link a
# second copy of the engine (built with other options) into the same benchmark binary.
set -euo pipefail
cc=$1 nm=$2 objcopy=$3 prefix=$4 out=$5
shift 5
"$cc" -r -nostdlib -o "$out.merged.o" "$@"
"$nm" -g --defined-only "$out.merged.o" | awk -v p="$prefix" 'NF >= 3 { print $3, p $3 }' \
  > "$out.syms"
"$objcopy" --redefine-syms="$out.syms" "$out.merged.o" "$out"
rm -f "$out.merged.o"
