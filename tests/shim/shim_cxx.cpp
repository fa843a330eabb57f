// shim_cxx.cpp — C++ new/delete reach the malloc shim through the C family (docs/shim.md).
//
// Runs under LD_PRELOAD=libtalc-malloc.so (run_shim.sh). libstdc++ implements operator new
// with malloc, aligned new with aligned_alloc, and every delete with free; the shim's
// mallinfo2 counts requested bytes exactly, so each form must move its live-byte figure by
// exactly the bytes asked for. Also: containers, a thread_local object whose destructor
// allocates at thread exit, and a static object whose destructor allocates at exit.
// Exit status 0 iff every check passed.
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <vector>

static int failures;
#define CHECK(cond, what)                                                                   \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            failures++;                                                                     \
            std::fprintf(stderr, "FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, #cond, what);  \
        }                                                                                   \
    } while (0)

// Live bytes as the shim counts them. With TALC_COUNTERS=OFF there is no count: every
// routing check below then compares 0 with the size asked for, so it uses this instead.
static size_t live() { return mallinfo2().uordblks; }
#if SHIM_COUNTERS
#define MOVED(before, n) (live() - (before) == (n))
#else
#define MOVED(before, n) (live() == 0 && (n) > 0)
#endif

struct alignas(64) Line {
    char bytes[64];
};

struct AllocOnDestroy {
    bool *ok;
    ~AllocOnDestroy()
    {
        std::string s(5000, 'd');
        std::vector<int> v(1000, 7);
        *ok = s.size() == 5000 && v[999] == 7;
    }
};

static bool tls_ok;

// Destroyed at exit, after main returned: allocation there must work.
struct ExitCheck {
    ~ExitCheck()
    {
        bool ok = false;
        {
            AllocOnDestroy d{&ok};
        }
        if (!ok) {
            std::fprintf(stderr, "FAIL: allocation in a static destructor\n");
            std::_Exit(3);
        }
        std::printf("shim_cxx: exit-time allocation ok\n");
        std::fflush(stdout);
    }
};
static ExitCheck exit_check;

int main()
{
    FILE *f = std::tmpfile();
    static char xml[1 << 14];
    CHECK(f && malloc_info(0, f) == 0, "malloc_info");
    if (f) {
        std::rewind(f);
        size_t n = std::fread(xml, 1, sizeof xml - 1, f);
        xml[n] = 0;
        std::fclose(f);
    }
    CHECK(std::strstr(xml, "talc-1") != nullptr, "the shim is not in use");

    size_t base = live();
    char *a = new char[1000];
    CHECK(MOVED(base, 1000), "new[] did not go through malloc");
    delete[] a;
    CHECK(live() == base, "delete[] did not go through free");

    int *i = new int(42);
    CHECK(MOVED(base, sizeof(int)), "new did not go through malloc");
    delete i;
    CHECK(live() == base, "delete did not go through free");

    Line *l = new Line;
    CHECK(reinterpret_cast<uintptr_t>(l) % 64 == 0, "aligned new misaligned");
    CHECK(MOVED(base, sizeof(Line)), "aligned new did not go through aligned_alloc");
    delete l;
    CHECK(live() == base, "aligned delete did not go through free");

    Line *arr = new Line[10];
    CHECK(reinterpret_cast<uintptr_t>(arr) % 64 == 0, "aligned new[] misaligned");
    delete[] arr;
    CHECK(live() == base, "aligned delete[]");

    void *nt = ::operator new(static_cast<size_t>(-1) / 2, std::nothrow);
    CHECK(nt == nullptr, "nothrow new of a huge size must return nullptr");
    bool threw = false;
    try {
        void *p = ::operator new(static_cast<size_t>(-1) / 2);
        ::operator delete(p);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw, "new of a huge size must throw bad_alloc");

    std::map<std::string, std::vector<int>> m;
    for (int k = 0; k < 2000; k++)
        m[std::to_string(k * 7919)].assign(static_cast<size_t>(k % 50), k);
    long sum = 0;
    for (auto &kv : m)
        for (int v : kv.second)
            sum += v;
    CHECK(m.size() == 2000 && sum > 0, "containers");
    m.clear();

    std::thread t([] {
        thread_local AllocOnDestroy d{&tls_ok};
        std::string s(100, 't');
        (void)d;
    });
    t.join();
    CHECK(tls_ok, "a thread_local destructor could not allocate at thread exit");

    if (failures) {
        std::fprintf(stderr, "shim_cxx: %d checks failed\n", failures);
        return 1;
    }
    std::printf("shim_cxx: all checks passed\n");
    return 0;
}
