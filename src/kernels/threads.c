// The thread pool of our own parallel kernels: workers started on first use and kept for
// the life of the process, woken once per parallel region. One region at a time; see
// kernels_impl.h for the contract.
#define _POSIX_C_SOURCE 200809L
#include "kernels/kernels_impl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define MAX_THREADS 64

static struct {
    pthread_mutex_t busy; // held by the caller of the running region
    pthread_mutex_t mu;   // guards everything below
    pthread_cond_t cv_start, cv_done;
    int n_workers;        // workers started (each is ith = 1 + its index)
    uint64_t gen;         // bumped once per region
    uint64_t gen_seen0[MAX_THREADS]; // gen when each worker was started
    int nth, n_left;
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

static void *worker_main(void *p) {
    int ith = (int)(intptr_t)p;
    pthread_mutex_lock(&pool.mu);
    uint64_t seen = pool.gen_seen0[ith - 1];
    for (;;) {
        while (pool.gen == seen) pthread_cond_wait(&pool.cv_start, &pool.mu);
        seen = pool.gen;
        if (ith >= pool.nth) continue; // not needed in this region
        void (*fn)(void *, int, int) = pool.fn;
        void *arg = pool.arg;
        int nth = pool.nth;
        pthread_mutex_unlock(&pool.mu);
        fn(arg, ith, nth);
        pthread_mutex_lock(&pool.mu);
        if (--pool.n_left == 0) pthread_cond_signal(&pool.cv_done);
    }
    return NULL;
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
    pthread_mutex_lock(&pool.mu);
    while (pool.n_workers < nth - 1) {
        pthread_t th;
        int ith = pool.n_workers + 1;
        pool.gen_seen0[ith - 1] = pool.gen;
        if (pthread_create(&th, NULL, worker_main, (void *)(intptr_t)ith) != 0) break;
        pthread_detach(th);
        pool.n_workers++;
    }
    if (nth > pool.n_workers + 1) nth = pool.n_workers + 1; // could not start them all
    pool.fn = fn;
    pool.arg = arg;
    pool.nth = nth;
    pool.n_left = nth - 1;
    pool.gen++;
    pthread_cond_broadcast(&pool.cv_start);
    pthread_mutex_unlock(&pool.mu);

    fn(arg, 0, nth);

    pthread_mutex_lock(&pool.mu);
    while (pool.n_left > 0) pthread_cond_wait(&pool.cv_done, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
    pthread_mutex_unlock(&pool.busy);
}
