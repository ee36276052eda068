/*
 * bench_encoder: time the encoder forward pass (a benchmark, not a test).
 *
 *   bench_encoder [options] DIR
 *     --threads N     threads for the kernels and OpenBLAS [all cores]
 *     --cases LIST    BxT cases, comma separated [1x128,8x128,32x32,1x512]
 *     --repeat R      timed forwards per case [5]; the median is reported
 *     --warmup W      untimed forwards per case first [1]
 *     --save DIR2     write DIR2/ids_BxT.i32 (the ids used, int32 little-endian (B, T)) and
 *                     DIR2/out_BxT.f32 (the hidden states (B, T, C) of the first forward),
 *                     for comparing with another implementation
 *     --profile       also time each kernel of one layer of this geometry on random data
 *                     (with --precision int8, each product also in int8)
 *     --gemm          also report GFLOP/s of lector_matmul and lector_matmul_packed at this
 *                     geometry's shapes (per second of wall and of process CPU time); with
 *                     --precision int8 also of lector_matmul_int8_packed (GOP/s)
 *     --peak          first measure one core's AVX2+FMA peak with a bare FMA loop
 *     --precision P   fp32, bf16 or int8: the encoder's matrix products
 *                     (lector_encoder_set_precision) [fp32]
 *     --texts FILE    end to end instead of the cases: tokenize FILE (one text per line)
 *                     with --vocab, encode in batches of --batch texts in file order, each
 *                     padded to its longest row, and mean-pool; reports texts/s over the
 *                     whole file (median of --repeat passes). --save-ids OUT writes the ids
 *                     as one JSON array per text, for feeding another implementation.
 *     --batching M    with --texts: "file" (the above: batches of --batch texts in file
 *                     order, as a pipeline feeds a model) or "sorted" (what `lector embed`
 *                     and `lector classify` do: chunks of 32 x --batch texts, each through
 *                     lector_embed_texts, which sorts them by length into batches of at
 *                     most --batch rows and 1,024 padded tokens (or one --max-len window),
 *                     and restores input order) [file]
 *     --save-pooled F with --texts: write the mean-pooled vectors of the last pass, float32
 *                     little-endian (texts, C) in input order
 *     --vocab FILE    WordPiece vocab.txt (lower case) for --texts
 *     --batch N       texts per batch for --texts [32]
 *     --max-len N     tokens per text, specials included, for --texts [128]
 *
 * Ids are random in [1000, V) from a fixed seed, every token real (no padding), type ids 0.
 * Prints one line per case: B, T, median ms, sentences/s, then the kernel set and the
 * OpenBLAS core in use, and at the end the peak RSS of the process. Machine-readable lines
 * start with "case" / "e2e" / "op" / "gemm" / "rss".
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/resource.h>

#include "lector/classifier.h"
#include "lector/encoder.h"
#include "lector/tokenizer.h"
#include "kernels/kernels.h"
#include "kernels/kernels_impl.h"
#include "base/base_impl.h"

char *openblas_get_corename(void); // OpenBLAS's own, not in cblas.h

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x243F6A8885A308D3u;
static uint64_t next_u64(void) { // splitmix64
    uint64_t z = (rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}
static float *rand_floats(int64_t n, float scale) {
    float *x = malloc((size_t)n * sizeof *x);
    if (!x) {
        fprintf(stderr, "bench_encoder: out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < n; i++)
        x[i] = ((float)(next_u64() >> 40) / 16777216.0f * 2.0f - 1.0f) * scale;
    return x;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int write_file(const char *dir, const char *kind, int64_t B, int64_t T, const void *data,
                      size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_%lldx%lld.%s", dir, kind, (long long)B, (long long)T,
             strcmp(kind, "ids") == 0 ? "i32" : "f32");
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "bench_encoder: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

// ----------------------------------------------------------------------------
// per-kernel timings of one synthetic layer

#define TIME_OP(name, flops, stmt)                                                          \
    do {                                                                                    \
        double t_[7];                                                                       \
        for (int r_ = 0; r_ < 7; r_++) {                                                    \
            double t0_ = now();                                                             \
            stmt;                                                                           \
            t_[r_] = now() - t0_;                                                           \
        }                                                                                   \
        double m_ = median(t_, 7);                                                          \
        printf("op %-22s %9.3f ms %8.1f GFLOP/s\n", name, m_ * 1e3,                         \
               (flops) > 0 ? (double)(flops) / m_ * 1e-9 : 0.0);                            \
        total += m_;                                                                        \
    } while (0)

// w (OC, IC) packed for lector_matmul_packed, or NULL where the kernels have no packed path
static float *pack(const float *w, int64_t IC, int64_t OC) {
    size_t n = lector_matmul_packed_size(IC, OC);
    if (n == 0) return NULL;
    float *p = lector__aligned_alloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "bench_encoder: out of memory\n");
        exit(1);
    }
    lector_matmul_pack_rows(p, w, IC, OC, 0, OC);
    return p;
}

// out = act(inp w^T + b) as the encoder computes it (gelu: act != 0)
static void linear(float *out, const float *inp, const float *w, const float *wp, const float *b,
                   int64_t N, int64_t IC, int64_t OC, int gelu) {
    enum lector__act act = gelu ? LECTOR__ACT_GELU : LECTOR__ACT_NONE;
    if (wp) {
        lector_matmul_packed(out, inp, wp, b, N, IC, OC, act);
        return;
    }
    lector_matmul(out, inp, w, b, N, IC, OC);
    lector_bias_act(out, NULL, N, OC, act);
}

// w (OC, IC) packed for lector_matmul_int8_packed, or NULL where there is no int8 product
static int8_t *pack_int8(const float *w, int64_t IC, int64_t OC) {
    size_t n = lector_matmul_int8_packed_size(IC, OC);
    if (n == 0) return NULL;
    int8_t *p = lector__aligned_alloc(n);
    if (!p) {
        fprintf(stderr, "bench_encoder: out of memory\n");
        exit(1);
    }
    lector_matmul_int8_pack(p, w, IC, OC);
    return p;
}

// With int8, each product again in int8 (activations quantised inside), for comparison.
static void profile_layer(int64_t B, int64_t T, int64_t C, int64_t H, int64_t F, int int8) {
    int64_t N = B * T;
    float *x = rand_floats(N * C, 1.0f), *qkv = rand_floats(N * 3 * C, 1.0f);
    float *wqkv = rand_floats(3 * C * C, 0.05f), *bqkv = rand_floats(3 * C, 0.1f);
    float *wo = rand_floats(C * C, 0.05f), *w1 = rand_floats(F * C, 0.05f);
    float *w2 = rand_floats(C * F, 0.05f), *bc = rand_floats(C, 0.1f), *bf = rand_floats(F, 0.1f);
    float *g = rand_floats(C, 1.0f), *atty = rand_floats(N * C, 1.0f);
    float *tmp = rand_floats(N * C, 1.0f), *ff = rand_floats(N * F, 1.0f);
    float *scratch = rand_floats((int64_t)lector_attention_scratch_size(T, C, H), 1.0f);
    double total = 0.0;
    printf("profile B=%lld T=%lld (one layer, C=%lld H=%lld F=%lld)\n", (long long)B,
           (long long)T, (long long)C, (long long)H, (long long)F);
    // the products as the forward runs them: packed weights where the kernels have them
    float *pqkv = pack(wqkv, C, 3 * C), *po = pack(wo, C, C), *p1 = pack(w1, C, F);
    float *p2 = pack(w2, F, C);
    TIME_OP("matmul qkv", 2.0 * N * C * 3 * C, linear(qkv, x, wqkv, pqkv, bqkv, N, C, 3 * C, 0));
    TIME_OP("attention", 4.0 * B * T * T * C, lector_attention(atty, qkv, NULL, scratch, B, T, C, H));
    TIME_OP("matmul out", 2.0 * N * C * C, linear(tmp, atty, wo, po, bc, N, C, C, 0));
    TIME_OP("residual+ln", 0, lector_residual_layernorm(tmp, tmp, NULL, x, g, bc, N, C, 1e-12f));
    TIME_OP("matmul ffn in + gelu", 2.0 * N * C * F, linear(ff, x, w1, p1, bf, N, C, F, 1));
    TIME_OP("matmul ffn out", 2.0 * N * F * C, linear(tmp, ff, w2, p2, bc, N, F, C, 0));
    TIME_OP("residual+ln", 0, lector_residual_layernorm(tmp, tmp, NULL, x, g, bc, N, C, 1e-12f));
    lector__aligned_free(pqkv), lector__aligned_free(po), lector__aligned_free(p1);
    lector__aligned_free(p2);
    printf("op %-22s %9.3f ms\n", "layer total", total * 1e3);
    int8_t *q[4] = {int8 ? pack_int8(wqkv, C, 3 * C) : NULL, NULL, NULL, NULL};
    if (q[0]) {
        q[1] = pack_int8(wo, C, C), q[2] = pack_int8(w1, C, F), q[3] = pack_int8(w2, F, C);
        total = 0.0;
        TIME_OP("int8 qkv", 2.0 * N * C * 3 * C,
                lector_matmul_int8_packed(qkv, x, q[0], bqkv, N, C, 3 * C, LECTOR__ACT_NONE));
        TIME_OP("int8 out", 2.0 * N * C * C,
                lector_matmul_int8_packed(tmp, atty, q[1], bc, N, C, C, LECTOR__ACT_NONE));
        TIME_OP("int8 ffn in + gelu", 2.0 * N * C * F,
                lector_matmul_int8_packed(ff, x, q[2], bf, N, C, F, LECTOR__ACT_GELU));
        TIME_OP("int8 ffn out", 2.0 * N * F * C,
                lector_matmul_int8_packed(tmp, ff, q[3], bc, N, F, C, LECTOR__ACT_NONE));
        printf("op %-22s %9.3f ms\n", "int8 products total", total * 1e3);
        for (int i = 0; i < 4; i++) lector__aligned_free(q[i]);
    }
    free(x), free(qkv), free(wqkv), free(bqkv), free(wo), free(w1), free(w2), free(bc);
    free(bf), free(g), free(atty), free(tmp), free(ff), free(scratch);
}

static double cpu_now(void) { // CPU time of the whole process (every thread)
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// GFLOP/s of lector_matmul (the plain weight: packed on every call where our sgemm runs,
// cblas_sgemm with LECTOR_KERNELS=ref) and, where the kernels have it, of
// lector_matmul_packed (weights packed once, what the encoder runs), at the encoder's four
// product shapes: medians of 7 calls, per second of wall time and per second of the
// process's CPU time (the figure that holds on a loaded machine).
static void gemm_rates(int64_t N, int64_t C, int64_t F, int int8) {
    const int64_t shapes[][2] = {{C, 3 * C}, {C, C}, {C, F}, {F, C}};
    const char *names[] = {"qkv", "out", "ffn in", "ffn out"};
    for (int s = 0; s < 4; s++) {
        int64_t IC = shapes[s][0], OC = shapes[s][1];
        float *x = rand_floats(N * IC, 1.0f), *w = rand_floats(OC * IC, 0.05f);
        float *b = rand_floats(OC, 0.1f), *o = rand_floats(N * OC, 1.0f);
        size_t n_p = lector_matmul_packed_size(IC, OC);
        float *wp = n_p ? lector__aligned_alloc(n_p * sizeof(float)) : NULL;
        if (wp) lector_matmul_pack_rows(wp, w, IC, OC, 0, OC);
        int8_t *wq = int8 ? pack_int8(w, IC, OC) : NULL;
        // 0: plain, 1: packed, 2: int8 (the quantisation of x included)
        for (int kind = 0; kind <= 2; kind++) {
            if ((kind == 1 && !wp) || (kind == 2 && !wq)) continue;
            double t[7], c[7];
            for (int r = -1; r < 7; r++) {
                double t0 = now(), c0 = cpu_now();
                if (kind == 2) lector_matmul_int8_packed(o, x, wq, b, N, IC, OC, LECTOR__ACT_NONE);
                else if (kind == 1) lector_matmul_packed(o, x, wp, b, N, IC, OC, LECTOR__ACT_NONE);
                else lector_matmul(o, x, w, b, N, IC, OC);
                if (r >= 0) t[r] = now() - t0, c[r] = cpu_now() - c0;
            }
            double m = median(t, 7), mc = median(c, 7), flop = 2.0 * N * IC * OC;
            printf("gemm %-8s %-6s N=%-5lld IC=%-5lld OC=%-5lld %8.3f ms %8.1f GFLOP/s wall "
                   "%8.1f GFLOP/s cpu\n",
                   names[s], kind == 2 ? "int8" : kind == 1 ? "packed" : "plain", (long long)N,
                   (long long)IC, (long long)OC, m * 1e3, flop / m * 1e-9, flop / mc * 1e-9);
        }
        lector__aligned_free(wp);
        lector__aligned_free(wq);
        free(x), free(w), free(b), free(o);
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
// A bare loop of 12 independent 8-wide FMA chains (more than the FMA units' latency times
// their count keeps busy) on this thread: the AVX2+FMA peak of one core, GFLOP/s per
// second of thread CPU time, median of 5 runs.
__attribute__((target("avx2,fma"))) static double fma_loop(int64_t iters) {
    __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    // named, not an array: gcc -O2 would keep an array in memory
    __m256 a0 = _mm256_set1_ps(0.0f), a1 = _mm256_set1_ps(1.0f), a2 = _mm256_set1_ps(2.0f),
           a3 = _mm256_set1_ps(3.0f), a4 = _mm256_set1_ps(4.0f), a5 = _mm256_set1_ps(5.0f),
           a6 = _mm256_set1_ps(6.0f), a7 = _mm256_set1_ps(7.0f), a8 = _mm256_set1_ps(8.0f),
           a9 = _mm256_set1_ps(9.0f), a10 = _mm256_set1_ps(10.0f), a11 = _mm256_set1_ps(11.0f);
    for (int64_t k = 0; k < iters; k++) {
        a0 = _mm256_fmadd_ps(a0, m, c), a1 = _mm256_fmadd_ps(a1, m, c);
        a2 = _mm256_fmadd_ps(a2, m, c), a3 = _mm256_fmadd_ps(a3, m, c);
        a4 = _mm256_fmadd_ps(a4, m, c), a5 = _mm256_fmadd_ps(a5, m, c);
        a6 = _mm256_fmadd_ps(a6, m, c), a7 = _mm256_fmadd_ps(a7, m, c);
        a8 = _mm256_fmadd_ps(a8, m, c), a9 = _mm256_fmadd_ps(a9, m, c);
        a10 = _mm256_fmadd_ps(a10, m, c), a11 = _mm256_fmadd_ps(a11, m, c);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    return (double)out[0];
}

static void fma_peak(void) {
    if (!lector__kernels_have_avx2()) {
        printf("peak: no AVX2+FMA on this CPU\n");
        return;
    }
    const int64_t iters = 20000000; // 12 x 20M FMAs of 8 floats: 3.84 GFLOP
    double g[5];
    volatile double sink = 0.0; // keeps the loops' results alive
    for (int r = 0; r < 5; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        sink += fma_loop(iters);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
        double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        g[r] = 2.0 * 8 * 12 * (double)iters / dt * 1e-9;
    }
    (void)sink;
    printf("peak avx2 fma, one thread: %.1f GFLOP/s of thread CPU time (median of 5)\n",
           median(g, 5));
}
#else
static void fma_peak(void) { printf("peak: not an x86-64 build\n"); }
#endif

// ----------------------------------------------------------------------------
// end to end: texts -> ids -> hidden states -> mean pooling

struct texts {
    char *buf;    // the whole file
    char **line;  // (n) NUL-terminated lines inside buf
    int64_t n;
};

static int read_texts(const char *path, struct texts *tx) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_encoder: cannot open %s\n", path);
        return -1;
    }
    size_t cap = 1 << 20, n = 0;
    tx->buf = malloc(cap + 1);
    for (size_t got; tx->buf && (got = fread(tx->buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) tx->buf = realloc(tx->buf, (cap *= 2) + 1);
    }
    fclose(f);
    if (!tx->buf) return -1;
    tx->buf[n] = '\0';
    int64_t n_lines = 0;
    for (size_t i = 0; i < n; i++) n_lines += tx->buf[i] == '\n';
    tx->line = malloc((size_t)(n_lines + 1) * sizeof *tx->line);
    tx->n = 0;
    for (char *p = tx->buf; *p;) {
        char *e = strchr(p, '\n');
        if (e) *e = '\0';
        tx->line[tx->n++] = p;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

// One pass over every text; returns seconds, or < 0 on error. ids_out (optional): the ids.
static double e2e_pass(const struct lector_tokenizer *tok, const struct lector_encoder *enc,
                       struct lector_encoder_state *st, const struct texts *tx, int64_t batch,
                       int64_t max_len, FILE *ids_out, float *pooled_all, double *checksum) {
    int64_t C = lector_encoder_n_embd(enc);
    int32_t pad = lector_tokenizer_pad_id(tok);
    int32_t *row = malloc((size_t)max_len * sizeof *row);
    int32_t *ids = malloc((size_t)(batch * max_len) * sizeof *ids);
    int32_t *mask = malloc((size_t)(batch * max_len) * sizeof *mask);
    int64_t *len = malloc((size_t)batch * sizeof *len);
    float *hidden = malloc((size_t)(batch * max_len * C) * sizeof *hidden);
    float *pooled = malloc((size_t)(batch * C) * sizeof *pooled);
    struct lector_error err = {0};
    double t0 = now(), sum = 0.0;
    int ok = row && ids && mask && len && hidden && pooled;
    for (int64_t i0 = 0; ok && i0 < tx->n; i0 += batch) {
        int64_t B = tx->n - i0 < batch ? tx->n - i0 : batch, T = 1;
        // tokenize each text of the batch, then lay them out padded to the longest
        for (int64_t b = 0; ok && b < B; b++) {
            const char *text = tx->line[i0 + b];
            int64_t n = 0;
            if (lector_tokenizer_encode(tok, text, strlen(text), max_len, ids + b * max_len, &n,
                                        NULL, &err) != LECTOR_STATUS_OK) {
                fprintf(stderr, "bench_encoder: text %lld: %s\n", (long long)(i0 + b), err.msg);
                ok = 0;
            }
            len[b] = n;
            if (n > T) T = n;
        }
        for (int64_t b = 0; ok && b < B; b++) {
            memcpy(row, ids + b * max_len, (size_t)len[b] * sizeof *row);
            if (ids_out) {
                fputc('[', ids_out);
                for (int64_t t = 0; t < len[b]; t++)
                    fprintf(ids_out, t ? ",%d" : "%d", (int)row[t]);
                fputs("]\n", ids_out);
            }
            // repack row b from stride max_len to stride T (T <= max_len: the later rows'
            // sources lie past what is written here; row b's own goes through row[])
            for (int64_t t = 0; t < T; t++) {
                ids[b * T + t] = t < len[b] ? row[t] : pad;
                mask[b * T + t] = t < len[b];
            }
        }
        if (ok && (lector_encoder_forward(enc, st, ids, NULL, mask, B, T, hidden, &err) !=
                       LECTOR_STATUS_OK ||
                   lector_encoder_pool(enc, hidden, mask, B, T, LECTOR_POOLING_MEAN, pooled,
                                       &err) != LECTOR_STATUS_OK)) {
            fprintf(stderr, "bench_encoder: batch at text %lld: %s\n", (long long)i0, err.msg);
            ok = 0;
        }
        for (int64_t k = 0; ok && k < B * C; k++) sum += (double)pooled[k];
        if (ok) memcpy(pooled_all + i0 * C, pooled, (size_t)(B * C) * sizeof *pooled);
    }
    double t = now() - t0;
    free(row), free(ids), free(mask), free(len), free(hidden), free(pooled);
    *checksum = sum;
    return ok ? t : -1.0;
}

// The same texts as lector embeds them: lector_embed_texts sorts the rows by length into
// batches (at most `batch` rows, `batch` x max_len padded tokens) and restores input order.
static double e2e_pass_sorted(const struct lector_tokenizer *tok,
                              const struct lector_encoder *enc, struct lector_encoder_state *st,
                              const struct texts *tx, const size_t *lens, int64_t batch,
                              int64_t max_len, float *pooled_all, double *checksum) {
    struct lector_window_params wp = {.max_len = max_len,
                                      .doc_pooling = LECTOR_DOC_TRUNCATE,
                                      .batch_size = batch};
    struct lector_error err = {0};
    const int64_t C = lector_encoder_n_embd(enc), chunk = 32 * batch;
    double t0 = now();
    for (int64_t i0 = 0; i0 < tx->n; i0 += chunk) {
        const int64_t m = tx->n - i0 < chunk ? tx->n - i0 : chunk;
        if (lector_embed_texts(enc, st, tok, LECTOR_POOLING_MEAN, &wp,
                               (const char *const *)tx->line + i0, lens + i0, m,
                               pooled_all + i0 * C, NULL, NULL, &err) != LECTOR_STATUS_OK) {
            fprintf(stderr, "bench_encoder: %s\n", err.msg);
            return -1.0;
        }
    }
    double t = now() - t0, sum = 0.0;
    for (int64_t k = 0; k < tx->n * C; k++) sum += (double)pooled_all[k];
    *checksum = sum;
    return t;
}

static int run_e2e(const struct lector_encoder *enc, struct lector_encoder_state *st,
                   const char *texts_path, const char *vocab, int64_t batch, int64_t max_len,
                   int repeat, int warmup, const char *save_ids, int sorted,
                   const char *save_pooled) {
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    if (!vocab || lector_tokenizer_open_path(vocab, &tok, &err) != LECTOR_STATUS_OK) {
        fprintf(stderr, "bench_encoder: --texts needs --vocab: %s\n", vocab ? err.msg : "");
        return 2;
    }
    struct texts tx = {0};
    if (read_texts(texts_path, &tx) != 0) {
        lector_tokenizer_close(tok);
        return 1;
    }
    int rc = 0;
    double *t = malloc((size_t)repeat * sizeof *t), checksum = 0.0;
    float *pooled = malloc((size_t)(tx.n * lector_encoder_n_embd(enc)) * sizeof *pooled + 1);
    size_t *lens = malloc((size_t)tx.n * sizeof *lens + 1);
    if (!t || !pooled || !lens) rc = 1;
    for (int64_t i = 0; rc == 0 && i < tx.n; i++) lens[i] = strlen(tx.line[i]);
    for (int r = -warmup; r < repeat && rc == 0; r++) {
        FILE *f = NULL;
        if (r == -warmup && save_ids && !(f = fopen(save_ids, "w"))) {
            fprintf(stderr, "bench_encoder: cannot write %s\n", save_ids);
            rc = 1;
            break;
        }
        double s = sorted ? e2e_pass_sorted(tok, enc, st, &tx, lens, batch, max_len, pooled,
                                            &checksum)
                          : e2e_pass(tok, enc, st, &tx, batch, max_len, f, pooled, &checksum);
        if (f && fclose(f) != 0) rc = 1;
        if (s < 0) rc = 1;
        else if (r >= 0) t[r] = s;
    }
    if (rc == 0) {
        double m = median(t, repeat);
        printf("e2e texts=%lld batch=%lld max_len=%lld %10.3f s %10.2f texts/s (median of %d; "
               "tokenize + encode + mean pool, %s batches; checksum %.6g)\n",
               (long long)tx.n, (long long)batch, (long long)max_len, m, (double)tx.n / m, repeat,
               sorted ? "length-sorted" : "file-order", checksum);
    }
    if (rc == 0 && save_pooled) {
        FILE *f = fopen(save_pooled, "wb");
        size_t n = (size_t)(tx.n * lector_encoder_n_embd(enc));
        if (!f || fwrite(pooled, sizeof *pooled, n, f) != n) rc = 1;
        if (f && fclose(f) != 0) rc = 1;
        if (rc) fprintf(stderr, "bench_encoder: cannot write %s\n", save_pooled);
    }
    free(t), free(pooled), free(lens), free(tx.line), free(tx.buf);
    lector_tokenizer_close(tok);
    return rc;
}

// Peak RSS, and where the current RSS lies (Linux: anonymous memory vs mapped files such as
// the checkpoint), from /proc/self/status when it exists.
static void print_rss(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return;
    printf("rss peak %.1f MB", (double)ru.ru_maxrss / 1024.0);
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        long kb;
        if (sscanf(line, "RssAnon: %ld", &kb) == 1) printf("; now anonymous %.1f MB", kb / 1024.0);
        if (sscanf(line, "RssFile: %ld", &kb) == 1) printf(", file-backed %.1f MB", kb / 1024.0);
    }
    if (f) fclose(f);
    printf("\n");
}

// ----------------------------------------------------------------------------

static void usage(FILE *f) {
    fprintf(f, "usage: bench_encoder [--threads N] [--cases 1x128,8x128,...] [--repeat R] "
               "[--warmup W] [--save DIR] [--profile] [--gemm] [--peak]\n"
               "                     [--precision fp32|bf16|int8]\n"
               "                     [--texts FILE --vocab VOCAB [--batch N] [--max-len N] "
               "[--save-ids OUT]\n"
               "                     [--batching file|sorted] [--save-pooled OUT]] MODEL_DIR\n");
}

int main(int argc, char **argv) {
    int n_threads = 0, repeat = 5, warmup = 1, profile = 0, gemm = 0, precision = 0, peak = 0;
    const char *cases = "1x128,8x128,32x32,1x512", *save = NULL, *dir = NULL;
    const char *texts = NULL, *vocab = NULL, *save_ids = NULL, *save_pooled = NULL;
    long long batch = 32, max_len = 128;
    int sorted = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (strcmp(a, "--threads") == 0 && has_val) n_threads = atoi(argv[++i]);
        else if (strcmp(a, "--cases") == 0 && has_val) cases = argv[++i];
        else if (strcmp(a, "--repeat") == 0 && has_val) repeat = atoi(argv[++i]);
        else if (strcmp(a, "--warmup") == 0 && has_val) warmup = atoi(argv[++i]);
        else if (strcmp(a, "--save") == 0 && has_val) save = argv[++i];
        else if (strcmp(a, "--profile") == 0) profile = 1;
        else if (strcmp(a, "--gemm") == 0) gemm = 1;
        else if (strcmp(a, "--peak") == 0) peak = 1;
        else if (strcmp(a, "--precision") == 0 && has_val) {
            precision = lector_precision_parse(argv[++i]);
            if (precision < 0) {
                usage(stderr);
                return 2;
            }
        }
        else if (strcmp(a, "--texts") == 0 && has_val) texts = argv[++i];
        else if (strcmp(a, "--vocab") == 0 && has_val) vocab = argv[++i];
        else if (strcmp(a, "--save-ids") == 0 && has_val) save_ids = argv[++i];
        else if (strcmp(a, "--batch") == 0 && has_val) batch = atoll(argv[++i]);
        else if (strcmp(a, "--max-len") == 0 && has_val) max_len = atoll(argv[++i]);
        else if (strcmp(a, "--save-pooled") == 0 && has_val) save_pooled = argv[++i];
        else if (strcmp(a, "--batching") == 0 && has_val) {
            const char *m = argv[++i];
            if (strcmp(m, "sorted") != 0 && strcmp(m, "file") != 0) {
                usage(stderr);
                return 2;
            }
            sorted = strcmp(m, "sorted") == 0;
        }
        else if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (a[0] != '-' && !dir) dir = a;
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!dir || repeat < 1 || repeat > 1000 || warmup < 0 || batch < 1 || max_len < 2) {
        usage(stderr);
        return 2;
    }
    lector_set_n_threads(n_threads);

    struct lector_error err = {0};
    struct lector_encoder *enc = NULL;
    struct lector_encoder_state *st = NULL;
    if (lector_encoder_open(dir, &enc, &err) != LECTOR_STATUS_OK ||
        lector_encoder_set_precision(enc, (enum lector_precision)precision, &err) !=
            LECTOR_STATUS_OK ||
        lector_encoder_state_new(enc, &st, &err) != LECTOR_STATUS_OK) {
        fprintf(stderr, "bench_encoder: %s\n", err.msg);
        lector_encoder_close(enc);
        return 1;
    }
    const struct lector_encoder_config *cfg = lector_encoder_get_config(enc);
    int64_t C = cfg->n_embd, V = cfg->n_vocab;
    printf("model %s: L=%lld C=%lld H=%lld F=%lld; kernels %s; precision %s; threads %d; "
           "openblas core %s\n",
           dir, (long long)cfg->n_layer, (long long)C, (long long)cfg->n_head,
           (long long)cfg->n_ff, lector__kernels()->name,
           lector_precision_name((enum lector_precision)precision), lector__kernels_n_threads(),
           openblas_get_corename());

    if (peak) fma_peak();
    int rc = 0;
    if (texts) {
        rc = run_e2e(enc, st, texts, vocab, batch, max_len, repeat, warmup, save_ids, sorted,
                     save_pooled);
        cases = ""; // no synthetic cases in this mode
    }
    const char *p = cases;
    while (*p) {
        long long B = 0, T = 0;
        int used = 0;
        if (sscanf(p, "%lldx%lld%n", &B, &T, &used) != 2 || B <= 0 || T <= 0) {
            fprintf(stderr, "bench_encoder: bad case list at '%s' (want BxT,BxT,...)\n", p);
            rc = 2;
            break;
        }
        p += used;
        if (*p == ',') p++;
        int32_t *ids = malloc((size_t)(B * T) * sizeof *ids);
        float *h = malloc((size_t)(B * T * C) * sizeof *h);
        double *t = malloc((size_t)repeat * sizeof *t);
        if (!ids || !h || !t) {
            fprintf(stderr, "bench_encoder: out of memory for B=%lld T=%lld\n", B, T);
            rc = 1;
            free(ids), free(h), free(t);
            break;
        }
        int64_t lo = V > 1000 ? 1000 : 0;
        for (int64_t i = 0; i < B * T; i++) ids[i] = (int32_t)(lo + (int64_t)(next_u64() % (uint64_t)(V - lo)));
        for (int r = -warmup; r < repeat && rc == 0; r++) {
            double t0 = now();
            if (lector_encoder_forward(enc, st, ids, NULL, NULL, B, T, h, &err) != LECTOR_STATUS_OK) {
                fprintf(stderr, "bench_encoder: B=%lld T=%lld: %s\n", B, T, err.msg);
                rc = 1;
            }
            if (r >= 0) t[r] = now() - t0;
            if (r == -warmup && save && rc == 0 &&
                (write_file(save, "ids", B, T, ids, (size_t)(B * T) * sizeof *ids) != 0 ||
                 write_file(save, "out", B, T, h, (size_t)(B * T * C) * sizeof *h) != 0))
                rc = 1;
        }
        if (rc == 0) {
            double m = median(t, repeat);
            printf("case B=%-3lld T=%-4lld %10.2f ms %10.2f sentences/s (median of %d)\n", B, T,
                   m * 1e3, (double)B / m, repeat);
            fflush(stdout);
            if (profile)
                profile_layer(B, T, C, cfg->n_head, cfg->n_ff,
                              precision == LECTOR_PRECISION_INT8);
            if (gemm) gemm_rates(B * T, C, cfg->n_ff, precision == LECTOR_PRECISION_INT8);
        }
        free(ids), free(h), free(t);
        if (rc) break;
    }
    print_rss();
    lector_encoder_state_free(st);
    lector_encoder_close(enc);
    return rc;
}
