// The thread pool of our own parallel kernels: workers started on first use and kept for
// the life of the process, woken once per parallel region. One region at a time; see
// kernels_impl.h for the contract.
//
// A forward pass runs a few hundred short regions (a BERT-base layer at 1x128 is eight
// regions in about 8 ms), so waking sleeping workers through a condition variable each time
// (tens of microseconds) would cost several percent. Workers therefore spin on the region
// counter for a short while after each region (SPIN_NS) before they sleep on the condition
// variable, and the caller spins likewise while it waits for the last worker. Every shared
// field is either an atomic (generation, workers left) or written before the generation is
// published with release order and read after an acquire load of it, so the pool is free
// of data races (ThreadSanitizer-clean) without relying on benign races.
#define _POSIX_C_SOURCE 200809L
#include "kernels/kernels_impl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define SPIN_NS 200000 // 0.2 ms: longer than the gap between two regions of a forward pass

static struct {
    pthread_mutex_t busy; // held by the caller of the running region
    pthread_mutex_t mu;   // guards n_workers and the sleeping side of the handshakes
    pthread_cond_t cv_start, cv_done;
    int n_workers;        // workers started (each is ith = 1 + its index)
    atomic_uint_least64_t gen; // bumped (release) once per region, after the fields below
    atomic_int n_left;         // workers that have not finished the current region
    // the current region: written by its caller before gen is bumped
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

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

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

static void *worker_main(void *p) {
    int ith = (int)(intptr_t)p;
    // the generation at which this worker was started (published by the caller's bump)
    uint64_t seen = atomic_load_explicit(&pool.gen, memory_order_acquire) - 1;
    for (;;) {
        seen = wait_new_gen(seen);
        // fn, arg and nth were written before the release bump of gen we acquired, and the
        // caller does not touch them again before every worker has decremented n_left
        if (ith < pool.nth) pool.fn(pool.arg, ith, pool.nth);
        if (atomic_fetch_sub_explicit(&pool.n_left, 1, memory_order_acq_rel) == 1) {
            // last one: wake the caller in case it stopped spinning
            pthread_mutex_lock(&pool.mu);
            pthread_cond_signal(&pool.cv_done);
            pthread_mutex_unlock(&pool.mu);
        }
    }
    return NULL;
}

static int all_done(void) { return atomic_load_explicit(&pool.n_left, memory_order_acquire) == 0; }

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
    // Start missing workers. A new worker reads gen - 1 as already seen, so it joins the
    // region published below; every worker takes part in (and counts down) every region,
    // those with ith >= nth doing nothing.
    pthread_mutex_lock(&pool.mu);
    int n_workers = pool.n_workers;
    pthread_mutex_unlock(&pool.mu);
    pool.fn = fn;
    pool.arg = arg;
    pool.nth = nth;
    int n_new = 0;
    // n_left before gen: a worker decrements it only after seeing the new gen
    atomic_store_explicit(&pool.n_left, n_workers, memory_order_relaxed);
    atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
    while (n_workers + n_new < nth - 1) {
        pthread_t th;
        atomic_fetch_add_explicit(&pool.n_left, 1, memory_order_relaxed);
        if (pthread_create(&th, NULL, worker_main, (void *)(intptr_t)(n_workers + n_new + 1)) !=
            0) {
            atomic_fetch_sub_explicit(&pool.n_left, 1, memory_order_relaxed);
            break;
        }
        pthread_detach(th);
        n_new++;
    }
    pthread_mutex_lock(&pool.mu);
    pool.n_workers = n_workers + n_new;
    pthread_cond_broadcast(&pool.cv_start);
    pthread_mutex_unlock(&pool.mu);

    int nth_run = n_workers + n_new + 1 < nth ? n_workers + n_new + 1 : nth;
    if (nth_run < nth) {
        // could not start enough threads: the parts of the missing ones run here, in order
        for (int i = nth_run; i < nth; i++) fn(arg, i, nth);
    }
    fn(arg, 0, nth);

    if (!spin_until_done()) {
        pthread_mutex_lock(&pool.mu);
        while (!all_done()) pthread_cond_wait(&pool.cv_done, &pool.mu);
        pthread_mutex_unlock(&pool.mu);
    }
    pthread_mutex_unlock(&pool.busy);
}
