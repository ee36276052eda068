// The thread pool of our own parallel kernels: workers started on first use and kept for
// the life of the process, woken once per parallel region. One region at a time; see
// kernels_impl.h for the contract.
//
// A forward pass runs a few hundred short regions (a BERT-base layer at 1x128 is eight
// regions in about 8 ms), so waking sleeping workers through a condition variable each time
// (tens of microseconds) would cost several percent. Workers therefore spin on the region
// counter for a short while after each region (SPIN_NS) before they sleep on the condition
// variable, and the caller spins likewise while it waits for the last part.
//
// Parts are claimed, not assigned: the caller and the workers take the region's parts
// 0..nth-1 from one atomic word (generation, nth, next part) until none is left, and the
// caller waits only for the parts to be done. A worker the OS has descheduled (another
// process on the core) then costs nothing: the caller runs its part. Which thread runs a
// part never changes what the part computes (kernels split their work by (ith, nth) only).
// A worker that wakes late for a finished region finds the word's generation moved on and
// claims nothing. Every shared field is either an atomic or written before the claim word
// and the generation are published with release order and read after an acquire of them
// (a part's fn, arg and nth are read only once that part is claimed, and the caller does
// not rewrite them before every claimed part is done), so the pool is free of data races
// (ThreadSanitizer-clean) without relying on benign races.
#define _POSIX_C_SOURCE 200809L
#include "kernels/kernels_impl.h"
#include "lector/base.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define MAX_THREADS 64
#define SPIN_NS 200000 // 0.2 ms: longer than the gap between two regions of a forward pass

static struct {
    pthread_mutex_t busy; // held by the caller of the running region
    pthread_mutex_t mu;   // guards n_workers and the sleeping side of the handshakes
    pthread_cond_t cv_start, cv_done;
    int n_workers;        // workers started (each is ith = 1 + its index)
    atomic_uint_least64_t gen; // bumped (release) once per region, after the fields below
    // (gen << 16) | (nth << 8) | next unclaimed part of the current region
    atomic_uint_least64_t claim;
    atomic_int n_done; // parts of the current region finished
    // the current region: written by its caller before claim and gen are published
    int nth;
    void (*fn)(void *arg, int ith, int nth);
    void *arg;
} pool = {.busy = PTHREAD_MUTEX_INITIALIZER,
          .mu = PTHREAD_MUTEX_INITIALIZER,
          .cv_start = PTHREAD_COND_INITIALIZER,
          .cv_done = PTHREAD_COND_INITIALIZER};

static atomic_int n_threads_req; // 0: not set, use the CPU count

void lector__kernels_set_n_threads(int n_threads) {
    atomic_store(&n_threads_req, n_threads > 0 ? n_threads : 0);
}

int lector__kernels_n_threads(void) {
    int n = atomic_load(&n_threads_req);
    if (n <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (int)cpus : 1;
    }
    return n > MAX_THREADS ? MAX_THREADS : n;
}

static int64_t now_ns(void) { return (int64_t)(lector_now() * 1e9); }

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static uint64_t wait_new_gen(uint64_t seen) {
    uint64_t g;
    for (int64_t t0 = now_ns(), i = 0;; i++) {
        g = atomic_load_explicit(&pool.gen, memory_order_acquire);
        if (g != seen) return g;
        if ((i & 255) == 255 && now_ns() - t0 > SPIN_NS) break;
        cpu_relax();
    }
    // sleep: the caller bumps gen and then broadcasts under mu, so checking gen under mu
    // before waiting cannot miss the wake-up
    pthread_mutex_lock(&pool.mu);
    while ((g = atomic_load_explicit(&pool.gen, memory_order_acquire)) == seen)
        pthread_cond_wait(&pool.cv_start, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
    return g;
}

#define GEN_MASK ((UINT64_C(1) << 48) - 1) // the generation bits the claim word keeps

// Run parts of region g until none is left to claim (or the region is no longer g).
static void run_parts(uint64_t g) {
    uint64_t c = atomic_load_explicit(&pool.claim, memory_order_acquire);
    for (;;) {
        int nth = (int)((c >> 8) & 0xff), part = (int)(c & 0xff);
        if ((c >> 16) != (g & GEN_MASK) || part >= nth) return;
        if (!atomic_compare_exchange_weak_explicit(&pool.claim, &c, c + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; // c reloaded
        // claimed: fn and arg stay as they are until this part is counted done
        pool.fn(pool.arg, part, nth);
        if (atomic_fetch_add_explicit(&pool.n_done, 1, memory_order_acq_rel) + 1 == nth) {
            // the last part: wake the caller in case it stopped spinning
            pthread_mutex_lock(&pool.mu);
            pthread_cond_signal(&pool.cv_done);
            pthread_mutex_unlock(&pool.mu);
        }
        c = atomic_load_explicit(&pool.claim, memory_order_acquire);
    }
}

static void *worker_main(void *p) {
    (void)p;
    // the generation at which this worker was started (published by the caller's bump)
    uint64_t seen = atomic_load_explicit(&pool.gen, memory_order_acquire) - 1;
    for (;;) {
        seen = wait_new_gen(seen);
        run_parts(seen);
    }
    return NULL;
}

static int all_done(void) {
    return atomic_load_explicit(&pool.n_done, memory_order_acquire) == pool.nth;
}

// Spin until every worker is done or SPIN_NS have passed; whether they are done.
static int spin_until_done(void) {
    for (int64_t t0 = now_ns(), i = 0;; i++) {
        if (all_done()) return 1;
        if ((i & 255) == 255 && now_ns() - t0 > SPIN_NS) return 0;
        cpu_relax();
    }
}

void lector__parallel_run(void (*fn)(void *arg, int ith, int nth), void *arg, int n_max) {
    int nth = lector__kernels_n_threads();
    if (nth > n_max) nth = n_max;
    // A second region while one runs (another user thread, or a kernel calling a kernel)
    // runs alone on its caller rather than waiting: same results, no deadlock.
    if (nth <= 1 || pthread_mutex_trylock(&pool.busy) != 0) {
        fn(arg, 0, 1);
        return;
    }
    // Publish the region (fields, then the claim word, then the generation that wakes the
    // workers), start missing workers (a new one reads gen - 1 as already seen, so it joins
    // this region), then claim parts like any worker.
    pthread_mutex_lock(&pool.mu);
    int n_workers = pool.n_workers;
    pthread_mutex_unlock(&pool.mu);
    pool.fn = fn;
    pool.arg = arg;
    pool.nth = nth;
    atomic_store_explicit(&pool.n_done, 0, memory_order_relaxed);
    uint64_t g = atomic_load_explicit(&pool.gen, memory_order_relaxed) + 1;
    atomic_store_explicit(&pool.claim, (g & GEN_MASK) << 16 | (uint64_t)nth << 8,
                          memory_order_release);
    atomic_store_explicit(&pool.gen, g, memory_order_release);
    int n_new = 0;
    while (n_workers + n_new < nth - 1) {
        pthread_t th;
        if (pthread_create(&th, NULL, worker_main, NULL) != 0) break; // we run its parts
        pthread_detach(th);
        n_new++;
    }
    pthread_mutex_lock(&pool.mu);
    pool.n_workers = n_workers + n_new;
    pthread_cond_broadcast(&pool.cv_start);
    pthread_mutex_unlock(&pool.mu);

    run_parts(g);
    if (!spin_until_done()) {
        pthread_mutex_lock(&pool.mu);
        while (!all_done()) pthread_cond_wait(&pool.cv_done, &pool.mu);
        pthread_mutex_unlock(&pool.mu);
    }
    pthread_mutex_unlock(&pool.busy);
}
