/* replay_main.c — a main() for a libFuzzer harness, so that its model checks run in every test
 * configuration (gcc, ASan, TSan, counters off, the sysfs build, aarch64 under qemu) without
 * libFuzzer or clang.
 *
 *   <program> FILE...   runs each file as one input (a crash file, a corpus)
 *   <program>           runs TALC_REPLAY_INPUTS random inputs (default 300) of 16..2063
 *                       bytes from the seed TALC_SEED (default 1), printed first
 *
 * Before each random input runs it is written to `<program>.last-input` in the working
 * directory, so a failure (the harness prints its reason and aborts) leaves the input to
 * replay: `<program> <program>.last-input`, or the libFuzzer build with the same file.
 *
 * Concurrency: one thread calls the harness.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long replay_env(const char *name, unsigned long dflt)
{
    const char *v = getenv(name);
    char *end = NULL;
    unsigned long n = v && *v ? strtoul(v, &end, 10) : dflt;
    return v && *v && end && *end == 0 ? n : dflt;
}

static int replay_file(const char *path)
{
    static uint8_t buf[1 << 20];
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    (void)LLVMFuzzerTestOneInput(buf, n);
    return 0;
}

static void replay_save(const char *path, const uint8_t *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return; /* a read-only directory: the seed and the index still replay it */
    (void)fwrite(data, 1, n, f);
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            if (replay_file(argv[i]) != 0)
                return 1;
        printf("%s: %d inputs passed\n", argv[0], argc - 1);
        return 0;
    }
    unsigned long inputs = replay_env("TALC_REPLAY_INPUTS", 300);
    uint64_t seed = replay_env("TALC_SEED", 1);
    test_rng_t rng;
    test_rng_seed(&rng, seed);
    const char *base = strrchr(argv[0], '/');
    char last[512];
    snprintf(last, sizeof last, "%s.last-input", base ? base + 1 : argv[0]);
    printf("%s: %lu random inputs, seed %llu (TALC_SEED)\n", argv[0], inputs,
           (unsigned long long)seed);
    fflush(stdout);
    static uint8_t buf[2064];
    for (unsigned long i = 0; i < inputs; i++) {
        size_t n = 16 + (size_t)(test_rng_next(&rng) % 2048);
        for (size_t k = 0; k < n; k += 8) {
            uint64_t r = test_rng_next(&rng);
            memcpy(buf + k, &r, n - k < 8 ? n - k : 8);
        }
        replay_save(last, buf, n);
        (void)LLVMFuzzerTestOneInput(buf, n);
    }
    remove(last);
    printf("%s: all %lu inputs passed\n", argv[0], inputs);
    return 0;
}
