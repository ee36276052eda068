// Tokenizer throughput: encode every line of a text file (one text per line) with a lector
// tokenizer, without special tokens, several times on one thread. Prints one JSON line:
// {"seconds": [per run], "median_s", "n_texts", "n_bytes", "n_ids"}.
// Usage: bench_tokenize TOKENIZER_PATH TEXTS.txt [RUNS]
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lector/tokenizer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_tokenize TOKENIZER_PATH TEXTS.txt [RUNS]\n");
        return 2;
    }
    int runs = argc > 3 ? atoi(argv[3]) : 5;
    if (runs < 1 || runs > 100) runs = 5;
    FILE *fp = fopen(argv[2], "rb");
    if (!fp) {
        perror(argv[2]);
        return 1;
    }
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *data = malloc((size_t)size + 1);
    if (!data || fread(data, 1, (size_t)size, fp) != (size_t)size) {
        fprintf(stderr, "%s: read failed\n", argv[2]);
        return 1;
    }
    fclose(fp);
    data[size] = '\0';
    size_t n_texts = 0, cap = 1024, n_bytes = 0;
    const char **texts = malloc(cap * sizeof *texts);
    size_t *lens = malloc(cap * sizeof *lens);
    for (char *p = data; p < data + size;) {
        char *nl = memchr(p, '\n', (size_t)(data + size - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(data + size - p);
        if (n_texts == cap) {
            cap *= 2;
            texts = realloc(texts, cap * sizeof *texts);
            lens = realloc(lens, cap * sizeof *lens);
        }
        texts[n_texts] = p;
        lens[n_texts++] = len;
        n_bytes += len;
        p += len + 1;
    }
    struct lector_tokenizer *tok = NULL;
    struct lector_error err;
    if (lector_tokenizer_open_path(argv[1], &tok, &err) != LECTOR_STATUS_OK) {
        fprintf(stderr, "bench_tokenize: %s\n", err.msg);
        return 1;
    }
    // Warm-up pass, then timed passes.
    double *seconds = calloc((size_t)runs, sizeof *seconds);
    long long n_ids = 0;
    for (int r = -1; r < runs; r++) {
        long long n_run = 0;
        double t0 = now();
        for (size_t i = 0; i < n_texts; i++) {
            int32_t *ids = NULL;
            int64_t n = 0;
            if (lector_tokenizer_encode_pieces(tok, texts[i], lens[i], &ids, &n, &err) != LECTOR_STATUS_OK) {
                fprintf(stderr, "bench_tokenize: text %zu: %s\n", i + 1, err.msg);
                return 1;
            }
            n_run += n;
            lector_free(ids);
        }
        double t1 = now();
        if (r >= 0) seconds[r] = t1 - t0;
        n_ids = n_run;
    }
    printf("{\"seconds\": [");
    for (int r = 0; r < runs; r++) printf("%s%.6f", r ? ", " : "", seconds[r]);
    qsort(seconds, (size_t)runs, sizeof *seconds, cmp_double);
    printf("], \"median_s\": %.6f, \"n_texts\": %zu, \"n_bytes\": %zu, \"n_ids\": %lld}\n",
           seconds[runs / 2], n_texts, n_bytes, n_ids);
    lector_tokenizer_close(tok);
    free(seconds);
    free(lens);
    free(texts);
    free(data);
    return 0;
}
