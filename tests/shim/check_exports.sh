#!/usr/bin/env bash
# check_exports.sh — libtalc-malloc.so exports exactly the symbols of shim/exports.map: the
# malloc family and glibc's malloc extensions, none of libtalc's own functions.
#
#   check_exports.sh NM LIBRARY EXPORTS_MAP
set -u
nm=$1 lib=$2 map=$3
want=$(sed -n '/global:/,/local:/p' "$map" | tr ' ;' '\n\n' | grep -E '^[a-z_0-9]+$' | sort)
got=$("$nm" -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort)
if [ "$want" != "$got" ]; then
  echo "check_exports.sh: $lib exports differ from $map"
  diff <(echo "$want") <(echo "$got")
  exit 1
fi
echo "check_exports.sh: $(echo "$got" | wc -l) symbols, as in exports.map"
