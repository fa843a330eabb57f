# armhf-linux-gnueabihf.cmake — cross toolchain for Debian's gcc-arm-linux-gnueabihf (32-bit
# ARM, hard float), tests under qemu-user. Prepared by `scripts/deps.sh cross`.
#
#   cmake -S . -B build/armhf -DCMAKE_TOOLCHAIN_FILE=$PWD/cmake/armhf-linux-gnueabihf.cmake \
#         -DTALC_TEST_RUNNER=lite
#
# The 32-bit target: size_t and pointers of 32 bits, alignof(max_align_t) = 8, so the heap's
# quantum is 8 bytes and its minimum chunk 24 (docs/heap.md), and the owner map is the 32-bit
# one. Libraries come from Debian multiarch (/usr/lib/arm-linux-gnueabihf). Debian 12 builds
# no Criterion for armhf, hence TALC_TEST_RUNNER=lite: tests/lite runs the suites, forking
# without exec, so no binfmt_misc handler is needed. qemu finds the armhf loader
# (/lib/ld-linux-armhf.so.3) and libraries at their multiarch paths.
include("${CMAKE_CURRENT_LIST_DIR}/TalcCross.cmake")
talc_cross_multiarch(arm-linux-gnueabihf armv7l)

find_program(TALC_QEMU_ARM NAMES qemu-arm qemu-arm-static REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR "${TALC_QEMU_ARM}")
