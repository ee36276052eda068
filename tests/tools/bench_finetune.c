// Fine-tuning benchmark driver (scripts/bench/finetune.sh runs it; not a test): trains the
// top N layers and a linear head on pre-tokenized splits and prints one JSON line with the
// seconds of the frozen pass and of each epoch, validation scores per epoch, the test
// accuracy of the best epoch and the peak RSS.
//
// Split files: one text a line, "label<TAB>id id id ..." (ids as the encoder takes them,
// special tokens included), labels 0 .. K-1.
//
// usage: bench_finetune --encoder DIR --train F --dev F --test F [--unfreeze N]
//                       [--epochs E] [--batch B] [--lr-head X] [--lr-encoder X]
//                       [--layer-lr-decay X] [--encoder-dropout X] [--pooled-dropout X]
//                       [--threads N] [--seed S] [--memory-budget BYTES]
//                       [--boundary-precision fp32|bf16] [--cache DIR]
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "lector/encoder.h"
#include "task/finetune.h"

struct split {
    struct lector_token_row *rows;
    int32_t *y;
    int64_t n;
    int32_t *ids;
};

static int read_split(const char *path, struct split *s, int64_t *K) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_finetune: %s: cannot open\n", path);
        return 1;
    }
    int64_t cap_rows = 1024, cap_ids = 65536, n_ids = 0;
    s->y = malloc((size_t)cap_rows * sizeof *s->y);
    int64_t *start = malloc((size_t)cap_rows * sizeof *start), *len = malloc((size_t)cap_rows * sizeof *len);
    s->ids = malloc((size_t)cap_ids * sizeof *s->ids);
    s->n = 0;
    char *line = NULL;
    size_t line_cap = 0;
    while (getline(&line, &line_cap, f) > 0) {
        char *p = line, *end;
        long label = strtol(p, &end, 10);
        if (end == p) continue;
        if (s->n == cap_rows) {
            cap_rows *= 2;
            s->y = realloc(s->y, (size_t)cap_rows * sizeof *s->y);
            start = realloc(start, (size_t)cap_rows * sizeof *start);
            len = realloc(len, (size_t)cap_rows * sizeof *len);
        }
        s->y[s->n] = (int32_t)label;
        if (label + 1 > *K) *K = label + 1;
        start[s->n] = n_ids;
        p = end;
        for (;;) {
            long id = strtol(p, &end, 10);
            if (end == p) break;
            if (n_ids == cap_ids) {
                cap_ids *= 2;
                s->ids = realloc(s->ids, (size_t)cap_ids * sizeof *s->ids);
            }
            s->ids[n_ids++] = (int32_t)id;
            p = end;
        }
        len[s->n] = n_ids - start[s->n];
        s->n++;
    }
    free(line);
    fclose(f);
    s->rows = malloc((size_t)(s->n > 0 ? s->n : 1) * sizeof *s->rows);
    for (int64_t i = 0; i < s->n; i++) s->rows[i] = (struct lector_token_row){s->ids + start[i], len[i]};
    free(start);
    free(len);
    return 0;
}

// CPU seconds of the process (user + system): on a shared, loaded machine the wall time
// measures the other tenants too.
static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static double cpu_mark, cpu_epochs, cpu_frozen;

static void on_start(void *user) {
    (void)user;
    double now = cpu_seconds();
    cpu_frozen = now - cpu_mark;
    cpu_mark = now;
}

static void on_epoch(void *user, int64_t epoch, double seconds, double acc, double f1,
                     double loss, double valid_loss) {
    (void)user, (void)valid_loss;
    double now = cpu_seconds(), cpu = now - cpu_mark;
    cpu_mark = now;
    cpu_epochs += cpu;
    fprintf(stderr, "epoch %lld: %.2f s (%.2f CPU s), train loss %.4f, dev accuracy %.4f, "
            "macro-F1 %.4f\n", (long long)epoch, seconds, cpu, loss, acc, f1);
    printf("%s{\"epoch\": %lld, \"seconds\": %.3f, \"cpu_seconds\": %.3f, \"train_loss\": "
           "%.5f, \"dev_accuracy\": %.5f}",
           epoch > 1 ? ", " : "", (long long)epoch, seconds, cpu, loss, acc);
}

int main(int argc, char **argv) {
    const char *enc_dir = NULL, *paths[3] = {NULL, NULL, NULL};
    struct lector__finetune_params p = lector__finetune_default_params();
    int threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--encoder")) enc_dir = v;
        else if (!strcmp(k, "--train")) paths[0] = v;
        else if (!strcmp(k, "--dev")) paths[1] = v;
        else if (!strcmp(k, "--test")) paths[2] = v;
        else if (!strcmp(k, "--unfreeze")) p.n_unfreeze = atoll(v);
        else if (!strcmp(k, "--epochs")) p.n_epochs = atoll(v);
        else if (!strcmp(k, "--batch")) p.batch_size = atoll(v);
        else if (!strcmp(k, "--lr-head")) p.lr_head = strtof(v, NULL);
        else if (!strcmp(k, "--lr-encoder")) p.lr_encoder = strtof(v, NULL);
        else if (!strcmp(k, "--layer-lr-decay")) p.layer_lr_decay = strtof(v, NULL);
        else if (!strcmp(k, "--encoder-dropout")) p.encoder_dropout = strtof(v, NULL);
        else if (!strcmp(k, "--pooled-dropout")) p.pooled_dropout = strtof(v, NULL);
        else if (!strcmp(k, "--threads")) threads = atoi(v);
        else if (!strcmp(k, "--seed")) p.seed = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--memory-budget")) p.memory_budget = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--boundary-precision"))
            p.boundary_precision = strcmp(v, "bf16") ? LECTOR_PRECISION_FP32 : LECTOR_PRECISION_BF16;
        else if (!strcmp(k, "--cache")) p.cache_dir = v;
        else {
            fprintf(stderr, "bench_finetune: unknown option %s\n", k);
            return 2;
        }
    }
    if (!enc_dir || !paths[0] || !paths[1] || !paths[2]) {
        fprintf(stderr, "usage: bench_finetune --encoder DIR --train F --dev F --test F [...]\n");
        return 2;
    }
    lector_set_n_threads(threads);
    struct split sp[3];
    int64_t K = 0;
    for (int i = 0; i < 3; i++)
        if (read_split(paths[i], &sp[i], &K)) return 1;
    struct lector_error err = {0};
    struct lector_encoder *enc = NULL;
    if (lector_encoder_open(enc_dir, &enc, &err) != LECTOR_STATUS_OK) {
        fprintf(stderr, "bench_finetune: %s\n", err.msg);
        return 1;
    }
    p.on_epoch = on_epoch;
    printf("{\"unfreeze\": %lld, \"batch\": %lld, \"threads\": %d, \"n_train\": %lld, \"epochs\": [",
           (long long)p.n_unfreeze, (long long)p.batch_size, threads, (long long)sp[0].n);
    struct lector__finetune_result r;
    p.on_start = on_start;
    cpu_mark = cpu_seconds();
    if (lector__finetune(enc, sp[0].rows, sp[0].y, sp[0].n, sp[1].rows, sp[1].y, sp[1].n, K, &p,
                         &r, &err) != LECTOR_STATUS_OK) {
        fprintf(stderr, "bench_finetune: %s\n", err.msg);
        return 1;
    }
    float *logits = malloc((size_t)(sp[2].n * K) * sizeof *logits);
    if (lector__finetune_predict(&r, sp[2].rows, sp[2].n, logits, &err) != LECTOR_STATUS_OK) {
        fprintf(stderr, "bench_finetune: %s\n", err.msg);
        return 1;
    }
    int64_t correct = 0;
    for (int64_t i = 0; i < sp[2].n; i++) {
        int64_t best = 0;
        for (int64_t k = 1; k < K; k++)
            if (logits[i * K + k] > logits[i * K + best]) best = k;
        correct += best == sp[2].y[i];
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("], \"seconds_frozen\": %.3f, \"seconds_per_epoch\": %.3f, \"cpu_seconds_per_epoch\": "
           "%.3f, \"cpu_seconds_frozen\": %.3f, \"best_epoch\": %lld, "
           "\"dev_accuracy\": %.5f, \"test_accuracy\": %.5f, \"boundary_bytes\": %zu, "
           "\"boundary_mapped\": %d, \"boundary_precision\": \"%s\", \"cached\": %lld, "
           "\"peak_rss_mb\": %.1f}\n",
           r.seconds_frozen, r.seconds_epochs / (double)r.n_epochs_run,
           cpu_epochs / (double)r.n_epochs_run, cpu_frozen, (long long)r.best_epoch,
           r.valid_accuracy, (double)correct / (double)sp[2].n, r.boundary_bytes,
           r.boundary_mapped, p.boundary_precision == LECTOR_PRECISION_BF16 ? "bf16" : "fp32",
           (long long)r.n_cached, (double)ru.ru_maxrss / 1024.0);
    free(logits);
    lector__finetune_result_free(&r);
    lector_encoder_close(enc);
    for (int i = 0; i < 3; i++) {
        free(sp[i].rows);
        free(sp[i].y);
        free(sp[i].ids);
    }
    return 0;
}
