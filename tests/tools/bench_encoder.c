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
 *     --gemm          also report GFLOP/s of lector_matmul at this geometry's shapes
 *
 * Ids are random in [1000, V) from a fixed seed, every token real (no padding), type ids 0.
 * Prints one line per case: B, T, median ms, sentences/s, then the kernel set and the
 * OpenBLAS core in use. Machine-readable lines start with "case" / "op" / "gemm".
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lector/encoder.h"
#include "kernels/kernels.h"
#include "kernels/kernels_impl.h"

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

static void profile_layer(int64_t B, int64_t T, int64_t C, int64_t H, int64_t F) {
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
    TIME_OP("matmul qkv", 2.0 * N * C * 3 * C, lector_matmul(qkv, x, wqkv, bqkv, N, C, 3 * C));
    TIME_OP("attention", 4.0 * B * T * T * C, lector_attention(atty, qkv, NULL, scratch, B, T, C, H));
    TIME_OP("matmul out", 2.0 * N * C * C, lector_matmul(tmp, atty, wo, NULL, N, C, C));
    TIME_OP("bias+residual+ln", 0, lector_residual_layernorm(tmp, tmp, bc, x, g, bc, N, C, 1e-12f));
    TIME_OP("matmul ffn in", 2.0 * N * C * F, lector_matmul(ff, x, w1, NULL, N, C, F));
    TIME_OP("bias+gelu", 0, lector_bias_gelu(ff, bf, N, F));
    TIME_OP("matmul ffn out", 2.0 * N * F * C, lector_matmul(tmp, ff, w2, NULL, N, F, C));
    TIME_OP("bias+residual+ln", 0, lector_residual_layernorm(tmp, tmp, bc, x, g, bc, N, C, 1e-12f));
    printf("op %-22s %9.3f ms\n", "layer total", total * 1e3);
    free(x), free(qkv), free(wqkv), free(bqkv), free(wo), free(w1), free(w2), free(bc);
    free(bf), free(g), free(atty), free(tmp), free(ff), free(scratch);
}

static void gemm_rates(int64_t N, int64_t C, int64_t F) {
    const int64_t shapes[][2] = {{C, 3 * C}, {C, C}, {C, F}, {F, C}};
    const char *names[] = {"qkv", "out", "ffn in", "ffn out"};
    for (int s = 0; s < 4; s++) {
        int64_t IC = shapes[s][0], OC = shapes[s][1];
        float *x = rand_floats(N * IC, 1.0f), *w = rand_floats(OC * IC, 0.05f);
        float *b = rand_floats(OC, 0.1f), *o = rand_floats(N * OC, 1.0f);
        double t[7];
        lector_matmul(o, x, w, b, N, IC, OC);
        for (int r = 0; r < 7; r++) {
            double t0 = now();
            lector_matmul(o, x, w, b, N, IC, OC);
            t[r] = now() - t0;
        }
        double m = median(t, 7);
        printf("gemm %-8s N=%-5lld IC=%-5lld OC=%-5lld %8.3f ms %8.1f GFLOP/s\n", names[s],
               (long long)N, (long long)IC, (long long)OC, m * 1e3, 2.0 * N * IC * OC / m * 1e-9);
        free(x), free(w), free(b), free(o);
    }
}

// ----------------------------------------------------------------------------

static void usage(FILE *f) {
    fprintf(f, "usage: bench_encoder [--threads N] [--cases 1x128,8x128,...] [--repeat R] "
               "[--warmup W] [--save DIR] [--profile] [--gemm] MODEL_DIR\n");
}

int main(int argc, char **argv) {
    int n_threads = 0, repeat = 5, warmup = 1, profile = 0, gemm = 0;
    const char *cases = "1x128,8x128,32x32,1x512", *save = NULL, *dir = NULL;
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
        else if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (a[0] != '-' && !dir) dir = a;
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!dir || repeat < 1 || repeat > 1000 || warmup < 0) {
        usage(stderr);
        return 2;
    }
    lector_set_n_threads(n_threads);

    struct lector_error err = {0};
    struct lector_encoder *enc = NULL;
    struct lector_encoder_state *st = NULL;
    if (lector_encoder_open(dir, &enc, &err) != LECTOR_STATUS_OK ||
        lector_encoder_state_init(enc, &st, &err) != LECTOR_STATUS_OK) {
        fprintf(stderr, "bench_encoder: %s\n", err.msg);
        lector_encoder_close(enc);
        return 1;
    }
    const struct lector_encoder_config *cfg = lector_encoder_get_config(enc);
    int64_t C = cfg->n_embd, V = cfg->n_vocab;
    printf("model %s: L=%lld C=%lld H=%lld F=%lld; kernels %s; threads %d; openblas core %s\n",
           dir, (long long)cfg->n_layer, (long long)C, (long long)cfg->n_head,
           (long long)cfg->n_ff, lector__kernels()->name, lector__kernels_n_threads(),
           openblas_get_corename());

    int rc = 0;
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
            if (profile) profile_layer(B, T, C, cfg->n_head, cfg->n_ff);
            if (gemm) gemm_rates(B * T, C, cfg->n_ff);
        }
        free(ids), free(h), free(t);
        if (rc) break;
    }
    lector_encoder_state_free(st);
    lector_encoder_close(enc);
    return rc;
}
