#!/usr/bin/env bash
# deps.sh — install the Debian packages a target needs, only when some are missing.
#
#   scripts/deps.sh native   build + native tests (cmake, liburcu, hwloc, Criterion, clang, valgrind,
#                            clang-format and clang-tidy for the lint gates; python3, git,
#                            sqlite3, redis, xz for the malloc shim's program tests)
#   scripts/deps.sh cross    aarch64 and armhf cross builds + qemu-user + arm64 libraries +
#                            the arm64 Criterion overlay + the armhf sysroot (Debian has no
#                            armhf Criterion: tests/lite runs the armhf suites)
#   scripts/deps.sh bench    peers for the benchmarks (jemalloc, mimalloc, tcmalloc, tbbmalloc)
#   scripts/deps.sh missing native|arm64|armhf|bench
#                            prints the set's packages that are not installed (installs nothing)
#
# Runs apt as root, or through sudo; otherwise names the missing packages and exits 1.
# Idempotent and quick (a dpkg-query per package) when everything is present.
#
# armhf's libraries are not installed through multiarch but unpacked into a sysroot
# (.deps/armhf-sysroot, or $TALC_ARMHF_SYSROOT; cmake/armhf-linux-gnueabihf.cmake uses it as
# CMAKE_SYSROOT and qemu's QEMU_LD_PREFIX). Multiarch would need each one at exactly the
# native version of its twin, which a mirror caught mid-sync can make impossible (seen on
# 2026-12-05: bookworm-security's binary-armhf/Packages.xz of the wrong size, so libc6-dev:armhf
# could not follow the native libc6); unpacked debs only need an index that has them. If even
# that fails, `cross` says so and returns 0, and scripts/test.sh reports the armhf
# configuration as not run, naming what is missing. arm64 is fetched on its own (apt-get update
# limited to it), so that armhf's index cannot stop it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

native_pkgs=(cmake make pkg-config gcc g++ libasan8:amd64 libubsan1:amd64 clang libclang-rt-14-dev valgrind
             clang-format clang-tidy
             liburcu-dev:amd64 libcriterion-dev:amd64 libhwloc-dev:amd64
             python3 git sqlite3 redis-server redis-tools xz-utils) # the last six: tests/shim programs
arm64_pkgs=(gcc-aarch64-linux-gnu qemu-user libc6-dev:arm64
            liburcu-dev:arm64 libhwloc-dev:arm64 libgit2-1.5:arm64 libffi8:arm64
            libasan8:arm64 libubsan1:arm64)
armhf_pkgs=(gcc-arm-linux-gnueabihf qemu-user)
# Unpacked into the armhf sysroot: libc and the kernel headers, the runtime libraries the
# cross gcc's programs load (libgcc_s, libatomic), liburcu, and hwloc with what it loads.
armhf_debs=(libc6 libc6-dev linux-libc-dev libcrypt1 libcrypt-dev libgcc-s1 libatomic1
            liburcu8 liburcu-dev libhwloc15 libhwloc-dev libudev1 libcap2)
bench_pkgs=(libjemalloc-dev libmimalloc-dev libtcmalloc-minimal4 libtbbmalloc2 gnuplot-nox)

native_arch=$(dpkg --print-architecture)

missing() {
  local p q
  for p in "$@"; do
    # Debian multiarch: a bare name would be ambiguous once :arm64 twins exist, so the
    # libraries carry an architecture; ":amd64" means the native one.
    q=$p
    if [ "${q##*:}" = amd64 ] && [ "$native_arch" != amd64 ]; then q="${q%%:*}:$native_arch"; fi
    [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$q" 2>/dev/null)" = "ii " ] || printf '%s\n' "$q"
  done
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1; fi
}

# apt_update [ARCHS]: apt-get update, of the indexes of ARCHS only if given ("amd64,arm64"; the
# others' lists are kept). Tried twice: a mirror caught mid-sync fails an index ("File has
# unexpected size") for a while. If it still fails, go on with the indexes apt has: the
# install that follows fails, with apt's message, only if a package really cannot be had.
apt_update() {
  local try opts=(-o DPkg::Lock::Timeout=600 -qq)
  [ -z "${1:-}" ] || opts+=(-o "APT::Architectures=$1" -o APT::Get::List-Cleanup=false)
  for try in 1 2; do
    as_root apt-get update "${opts[@]}" && return 0
    [ "$try" = 2 ] || { echo "deps.sh: apt-get update failed; again in 15 s" >&2; sleep 15; }
  done
  echo "deps.sh: apt-get update failed twice; installing with the indexes apt has" >&2
}

# apt_install ARCHS PKG...: update (ARCHS as for apt_update) and install; exits on failure.
apt_install() {
  local archs=$1
  shift
  local need=("$@")
  [ ${#need[@]} -eq 0 ] && return 0
  if ! as_root true; then
    echo "deps.sh: missing Debian packages (run as root or with sudo): ${need[*]}" >&2
    exit 1
  fi
  echo "deps.sh: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt_update "$archs"
  as_root apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${need[@]}" >/dev/null
}

arm64_overlay() {
  local ovl="$here/.deps/arm64-overlay"
  [ -e "$ovl/usr/lib/aarch64-linux-gnu/libcriterion.so" ] && return 0
  # libcriterion-dev:arm64 cannot be co-installed with the amd64 one (libnanomsg5 lacks
  # Multi-Arch: same), so unpack the three debs into an overlay used as QEMU_LD_PREFIX.
  local tmp; tmp=$(mktemp -d); chmod 0777 "$tmp"
  ( cd "$tmp" && apt-get download -qq libcriterion3:arm64 libcriterion-dev:arm64 libnanomsg5:arm64 )
  mkdir -p "$ovl"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$ovl"; done
  rm -rf "$tmp"
}

armhf_sysroot_dir() { printf '%s\n' "${TALC_ARMHF_SYSROOT:-$here/.deps/armhf-sysroot}"; }

# The sysroot is complete when its stamp names exactly the debs of armhf_debs, in order (so a
# change of the list unpacks it again).
armhf_sysroot_ok() {
  local stamp; stamp="$(armhf_sysroot_dir)/.talc-debs"
  [ -e "$stamp" ] && [ "$(cut -d' ' -f1 "$stamp")" = "$(printf '%s\n' "${armhf_debs[@]}")" ]
}

# armhf_sysroot: download armhf_debs (from the armhf index; no dependency resolution, the list
# is the closure the build and the tests need) and unpack them into a fresh sysroot.
armhf_sysroot() {
  armhf_sysroot_ok && return 0
  local sys tmp deb; sys=$(armhf_sysroot_dir); tmp=$(mktemp -d); chmod 0777 "$tmp"
  if ! (cd "$tmp" && apt-get download -qq "${armhf_debs[@]/%/:armhf}"); then
    rm -rf "$tmp"; return 1
  fi
  rm -rf "$sys"; mkdir -p "$sys"
  for deb in "${armhf_debs[@]}"; do
    dpkg-deb -x "$tmp/${deb}"_*_armhf.deb "$sys"
    printf '%s %s\n' "$deb" "$(dpkg-deb -f "$tmp/${deb}"_*_armhf.deb Version)" >>"$sys/.talc-debs.new"
  done
  mv "$sys/.talc-debs.new" "$sys/.talc-debs"
  rm -rf "$tmp"
}

binfmt_qemu() {
  # Criterion re-executes its binary per test; under qemu-user that execve needs binfmt_misc.
  local reg=/proc/sys/fs/binfmt_misc
  [ -e "$reg/qemu-aarch64" ] && return 0
  as_root true || { echo "deps.sh: binfmt_misc for qemu-aarch64 needs root" >&2; exit 1; }
  [ -e "$reg/register" ] || as_root mount -t binfmt_misc binfmt_misc "$reg"
  printf '%s' ':qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64:' \
    | as_root tee "$reg/register" >/dev/null
}

case "${1:-native}" in
  native) mapfile -t m < <(missing "${native_pkgs[@]}"); apt_install "" "${m[@]}" ;;
  cross)
    for fa in arm64 armhf; do
      dpkg --print-foreign-architectures | grep -qx "$fa" && continue
      as_root dpkg --add-architecture "$fa" || { echo "deps.sh: need root to add $fa" >&2; exit 1; }
    done
    mapfile -t m < <(missing "${arm64_pkgs[@]}"); apt_install "$native_arch,arm64" "${m[@]}"
    arm64_overlay; binfmt_qemu
    mapfile -t m < <(missing "${armhf_pkgs[@]}")
    if ! (apt_install "$native_arch" "${m[@]}"); then
      echo "deps.sh: WARNING: could not install ${m[*]} (apt's reason above);" \
           "scripts/test.sh will not run the armhf configuration" >&2
    elif ! armhf_sysroot_ok && ! (apt_update "$native_arch,armhf" && armhf_sysroot); then
      echo "deps.sh: WARNING: could not download the armhf debs for $(armhf_sysroot_dir)" \
           "(apt's reason above); scripts/test.sh will not run the armhf configuration" >&2
    fi ;;
  bench)  mapfile -t m < <(missing "${bench_pkgs[@]}"); apt_install "" "${m[@]}" ;;
  missing)
    case "${2:-}" in
      native) missing "${native_pkgs[@]}" ;;
      arm64) missing "${arm64_pkgs[@]}" ;;
      armhf) missing "${armhf_pkgs[@]}"; armhf_sysroot_ok || echo "sysroot $(armhf_sysroot_dir)" ;;
      bench) missing "${bench_pkgs[@]}" ;;
      *) echo "usage: deps.sh missing native|arm64|armhf|bench" >&2; exit 2 ;;
    esac ;;
  *) echo "usage: deps.sh native|cross|bench|missing <set>" >&2; exit 2 ;;
esac
