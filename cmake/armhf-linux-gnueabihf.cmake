# armhf-linux-gnueabihf.cmake — cross toolchain for Debian's gcc-arm-linux-gnueabihf (32-bit
# ARM, hard float), tests under qemu-user. Prepared by `scripts/deps.sh cross`.
#
#   cmake -S . -B build/armhf -DCMAKE_TOOLCHAIN_FILE=$PWD/cmake/armhf-linux-gnueabihf.cmake \
#         -DTALC_TEST_RUNNER=lite
#
# The 32-bit target: size_t and pointers of 32 bits, alignof(max_align_t) = 8, so the heap's
# quantum is 8 bytes and its minimum chunk 24 (docs/heap.md), and the owner map is the 32-bit
# one. libc, liburcu and hwloc come from a sysroot of unpacked armhf debs (.deps/armhf-sysroot,
# or $TALC_ARMHF_SYSROOT; scripts/deps.sh says why not multiarch), which is also qemu's
# QEMU_LD_PREFIX: the armhf loader, libc and the libraries are found there. Debian 12 builds
# no Criterion for armhf, hence TALC_TEST_RUNNER=lite: tests/lite runs the suites, forking
# without exec, so no binfmt_misc handler is needed.
include("${CMAKE_CURRENT_LIST_DIR}/TalcCross.cmake")

talc_deps_dir(TALC_ARMHF_SYSROOT armhf-sysroot)
if(NOT EXISTS "${TALC_ARMHF_SYSROOT}/.talc-debs")
  message(FATAL_ERROR "no armhf sysroot at ${TALC_ARMHF_SYSROOT}: run scripts/deps.sh cross")
endif()
talc_cross_sysroot(arm-linux-gnueabihf armv7l "${TALC_ARMHF_SYSROOT}")

find_program(TALC_QEMU_ARM NAMES qemu-arm qemu-arm-static REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR
    "/usr/bin/env;QEMU_LD_PREFIX=${TALC_ARMHF_SYSROOT};${TALC_QEMU_ARM}")
