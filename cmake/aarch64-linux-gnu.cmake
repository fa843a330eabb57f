# aarch64-linux-gnu.cmake — cross toolchain for Debian's gcc-aarch64-linux-gnu, tests under
# qemu-user (toolchain.md 2.2). Prepared by `scripts/deps.sh cross`.
#
#   cmake -S . -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=$PWD/cmake/aarch64-linux-gnu.cmake
#
# Libraries come from Debian multiarch (/usr/lib/aarch64-linux-gnu), except Criterion, which
# cannot be co-installed with the amd64 one and is unpacked into an overlay directory
# (.deps/arm64-overlay, or $TALC_ARM64_OVERLAY). The overlay is also qemu's QEMU_LD_PREFIX:
# qemu looks there first and falls back to the host's paths (the arm64 loader and libc).
# Criterion re-executes its binary per test, which needs the qemu-aarch64 binfmt_misc
# handler (deps.sh registers it); QEMU_LD_PREFIX reaches those children through the environment.
include("${CMAKE_CURRENT_LIST_DIR}/TalcCross.cmake")
talc_cross_multiarch(aarch64-linux-gnu aarch64)

talc_deps_dir(TALC_ARM64_OVERLAY arm64-overlay)
set(_talc_ovl_lib "${TALC_ARM64_OVERLAY}/usr/lib/aarch64-linux-gnu")

set(CMAKE_FIND_ROOT_PATH "${TALC_ARM64_OVERLAY}") # overlay first, then the real /

# libcriterion.so.3 needs libnanomsg.so.5, which only the overlay has.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_talc_ovl_lib}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_talc_ovl_lib}")

find_program(TALC_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR
    "/usr/bin/env;QEMU_LD_PREFIX=${TALC_ARM64_OVERLAY};${TALC_QEMU_AARCH64}")
