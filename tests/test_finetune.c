// Fine-tuning the top layers end to end (src/task/finetune.c) on a tiny random BERT:
// the recipe learns a separable toy task; the same seed gives bit-identical weights for 1
// and 3 kernel threads, and with the boundary states in memory or spilled to a mapped
// file; AdamW parameter groups (layer-wise decay, no decay on biases and LayerNorm); n-gram
// weights trained jointly (a label only the n-gram rows reveal is learnt, and only the
// columns seen move); a multi-label sigmoid head; a raised cancel flag stops the frozen pass
// and the epochs, leaving no spill file; boundary states kept as bf16 (half the bytes, the
// same determinism); the states reused through the feature cache (a second run reads them
// all and trains the same weights; a damaged, cut or foreign file is detected and its rows
// computed again); bad arguments are refused by name. (The numerics against PyTorch are
// test_finetune_golden's.)
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/kernels_impl.h"
#include "task/finetune.h"
#include "testutil.h"
#include "tinyenc.h"

enum { N_ROWS = 48, LEN = 9 };

struct data {
    char *dir;
    struct lector_encoder *enc;
    int32_t ids[N_ROWS][LEN];
    struct lector_token_row rows[N_ROWS];
    int32_t y[N_ROWS];
};

// Label 1 texts contain token 20 a few times, label 0 texts token 21: separable by mean pooling.
static int setup(void **state) {
    struct data *d = calloc(1, sizeof *d);
    if (!d) return -1;
    d->dir = test_mkdtemp();
    if (!d->dir || test_make_tiny_encoder(d->dir, 7) != 0) return -1;
    struct lector_error err = {0};
    if (lector_encoder_open(d->dir, &d->enc, &err) != LECTOR_STATUS_OK) return -1;
    uint64_t rng = 99;
    for (int i = 0; i < N_ROWS; i++) {
        int n = 4 + i % (LEN - 4);
        d->y[i] = i % 2;
        for (int t = 0; t < n; t++) {
            float u = test_rand_uniform(&rng);
            d->ids[i][t] = u > -0.5f ? (d->y[i] ? 20 : 21) : 30 + (int32_t)(10.0f * (u + 1.0f));
        }
        d->rows[i] = (struct lector_token_row){d->ids[i], n};
    }
    *state = d;
    return 0;
}

static int teardown(void **state) {
    struct data *d = *state;
    lector_encoder_close(d->enc);
    test_rmtree(d->dir);
    free(d->dir);
    free(d);
    return 0;
}

static struct lector__finetune_params params(int64_t n_unfreeze) {
    struct lector__finetune_params p = lector__finetune_default_params();
    p.n_unfreeze = n_unfreeze;
    p.n_epochs = 6;
    p.batch_size = 8;
    p.lr_head = 1e-2f;
    p.lr_encoder = 1e-3f;
    p.layer_lr_decay = 0.5f;
    return p;
}

// Train on rows 0..31 with labels y, validate on rows 32..47.
static void run_labels(struct data *d, const int32_t *y, const struct lector__finetune_params *p,
                       struct lector__finetune_result *r) {
    struct lector_error err = {0};
    if (lector__finetune(d->enc, d->rows, y, 32, d->rows + 32, y + 32, N_ROWS - 32, 2, p, r,
                         &err) != LECTOR_STATUS_OK)
        fail_msg("finetune: %s", err.msg);
}

static void run(struct data *d, const struct lector__finetune_params *p,
                struct lector__finetune_result *r) {
    run_labels(d, d->y, p, r);
}

static void test_learns_toy_task(void **state) {
    struct data *d = *state;
    struct lector__finetune_params p = params(2);
    struct lector__finetune_result r;
    run(d, &p, &r);
    printf("  best epoch %lld, valid accuracy %.3f\n", (long long)r.best_epoch, r.valid_accuracy);
    assert_true(r.valid_accuracy >= 0.9);
    float logits[N_ROWS * 2];
    struct lector_error err = {0};
    assert_int_equal(lector__finetune_predict(&r, d->rows, N_ROWS, logits, &err), LECTOR_STATUS_OK);
    int correct = 0;
    for (int i = 0; i < N_ROWS; i++) correct += (logits[2 * i + 1] > logits[2 * i]) == d->y[i];
    assert_true(correct >= N_ROWS - 4);
    // the trainable copy moved away from the checkpoint's values (a fresh copy)
    struct lector__enc_train *fresh = NULL;
    assert_int_equal(lector__enc_train_init(d->enc, 2, LECTOR_POOLING_MEAN, &fresh, &err),
                     LECTOR_STATUS_OK);
    const struct lector__train_tensor *t =
        lector__enc_train_find(r.tr, "encoder.layer.1.output.dense.weight");
    assert_non_null(t);
    assert_true(test_max_abs_diff(lector__enc_train_params(r.tr) + t->offset,
                                  lector__enc_train_params(fresh) + t->offset, t->numel) > 1e-4f);
    lector__enc_train_free(fresh);
    lector__finetune_result_free(&r);
}

// Weights of a run: the head's then the encoder's parameters.
static float *weights_of(struct lector__finetune_result *r, int64_t *n) {
    int64_t nh = lector_head_n_params(r->head), ne = lector__enc_train_n_params(r->tr);
    float *w = malloc((size_t)(nh + ne) * sizeof *w);
    assert_non_null(w);
    memcpy(w, lector_head_params(r->head), (size_t)nh * sizeof *w);
    memcpy(w + nh, lector__enc_train_params(r->tr), (size_t)ne * sizeof *w);
    *n = nh + ne;
    return w;
}

// Runs of p with 1 thread in memory, 3 threads in memory and 1 thread spilled to a file give
// bit-identical weights and each a validation accuracy of at least min_accuracy; fp32_bytes
// (0: not checked) is what the states take as fp32, twice the size each run reports (bf16).
static void same_weights_threads_and_spill(struct data *d, struct lector__finetune_params p,
                                           size_t fp32_bytes, double min_accuracy) {
    float *first = NULL;
    int64_t n_first = 0;
    for (int variant = 0; variant < 3; variant++) {
        lector__kernels_set_n_threads(variant == 1 ? 3 : 1);
        p.memory_budget = variant == 2 ? 0 : (size_t)1 << 30;
        struct lector__finetune_result r;
        run(d, &p, &r);
        assert_int_equal(r.boundary_mapped, variant == 2);
        if (fp32_bytes) assert_int_equal(r.boundary_bytes * 2, fp32_bytes);
        assert_true(r.valid_accuracy >= min_accuracy);
        int64_t n;
        float *w = weights_of(&r, &n);
        if (!first) {
            first = w;
            n_first = n;
        } else {
            assert_int_equal(n, n_first);
            assert_memory_equal(first, w, (size_t)n * sizeof *w);
            free(w);
        }
        lector__finetune_result_free(&r);
    }
    lector__kernels_set_n_threads(0);
    free(first);
}

static void test_bit_identical_threads_and_spill(void **state) {
    same_weights_threads_and_spill(*state, params(1), 0, 0.0);
}

// bf16 boundary states: half the bytes of fp32's, bit-identical weights for 1 and 3 threads
// and in memory or spilled, and the toy task is still learnt.
static void test_bf16_states(void **state) {
    struct data *d = *state;
    struct lector__finetune_params p = params(2);
    struct lector__finetune_result r;
    run(d, &p, &r);
    const size_t fp32_bytes = r.boundary_bytes;
    lector__finetune_result_free(&r);
    p.boundary_precision = LECTOR_PRECISION_BF16;
    same_weights_threads_and_spill(d, p, fp32_bytes, 0.9);
}

// An MLP head (8 GELU units, their dropout) trained with the top layer: it learns the toy
// task, with the same bits for 1 and 3 threads and in memory or spilled.
static void test_mlp_head(void **state) {
    struct data *d = *state;
    struct lector__finetune_params p = params(1);
    p.n_hidden = 8;
    p.hidden_dropout = 0.2f;
    struct lector__finetune_result r;
    run(d, &p, &r);
    assert_int_equal(lector_head_n_hidden(r.head), 8);
    printf("  MLP head: best epoch %lld, valid accuracy %.3f\n", (long long)r.best_epoch,
           r.valid_accuracy);
    lector__finetune_result_free(&r);
    same_weights_threads_and_spill(d, p, 0, 0.9);
}

// A run with the cache in dir: its weights, and what the cache did.
static float *cached_run(struct data *d, struct lector__finetune_params *p, const char *dir,
                         int64_t *n, int64_t *n_cached, int64_t *n_damaged, char **path) {
    p->cache_dir = dir;
    struct lector__finetune_result r;
    run(d, p, &r);
    float *w = weights_of(&r, n);
    *n_cached = r.n_cached;
    *n_damaged = r.n_cache_damaged;
    assert_string_equal(r.cache_warning, "");
    assert_non_null(r.cache_path);
    if (path) {
        free(*path);
        *path = strdup(r.cache_path);
    }
    lector__finetune_result_free(&r);
    return w;
}

// Does another row have the token ids of row i?
static bool has_twin(const struct data *d, int i) {
    for (int k = 0; k < N_ROWS; k++)
        if (k != i && d->rows[k].n == d->rows[i].n &&
            !memcmp(d->ids[k], d->ids[i], (size_t)d->rows[i].n * sizeof d->ids[i][0]))
            return true;
    return false;
}

static void flip_byte(const char *path, long at) {
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, at, SEEK_SET), 0);
    int c = fgetc(f);
    assert_true(c != EOF);
    assert_int_equal(fseek(f, at, SEEK_SET), 0);
    fputc(c ^ 0x10, f);
    fclose(f);
}

static long file_size(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (long)st.st_size;
}

// The boundary states through the feature cache: the first run stores them, the second reads
// every row and trains bit-identical weights; a damaged value, a damaged record length, a cut
// record and a foreign file are each detected, their rows computed again (the same weights)
// and the file repaired; fp32 and bf16 states are separate files; no directory, no cache.
static void test_states_cache(void **state) {
    struct data *d = *state;
    char *tmp = test_mkdtemp(), dir[4096], *path = NULL;
    assert_non_null(tmp);
    snprintf(dir, sizeof dir, "%s/cache", tmp);
    struct lector__finetune_params p = params(1);
    int64_t n, n0, cached, damaged;
    const int64_t all = N_ROWS; // 32 training and 16 validation rows
    float *w0 = cached_run(d, &p, dir, &n0, &cached, &damaged, &path);
    assert_int_equal(cached, 0);
    assert_int_equal(damaged, 0);
    const long size = file_size(path);
    // the second run reads every row's states
    float *w = cached_run(d, &p, dir, &n, &cached, &damaged, NULL);
    assert_int_equal(cached, all);
    assert_int_equal(n, n0);
    assert_memory_equal(w0, w, (size_t)n0 * sizeof *w0);
    free(w);
    assert_int_equal(file_size(path), size); // nothing appended
    // the file's layout: a 24-byte header, the key, then records (digest, length, head
    // check, values, check) in row order
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char h[24];
    assert_int_equal(fread(h, 1, sizeof h, f), sizeof h);
    fclose(f);
    assert_memory_equal(h, "LECTORBS", 8);
    const long first = 24 + (long)(h[20] | h[21] << 8 | h[22] << 16 | (unsigned long)h[23] << 24);
    // a flipped bit in the first record's values: row 0 is computed again (unless a later
    // record holds the same token ids)
    flip_byte(path, first + 40 + 5);
    w = cached_run(d, &p, dir, &n, &cached, &damaged, NULL);
    assert_int_equal(damaged, 1);
    assert_int_equal(cached, has_twin(d, 0) ? all : all - 1);
    assert_memory_equal(w0, w, (size_t)n0 * sizeof *w0);
    free(w);
    w = cached_run(d, &p, dir, &n, &cached, &damaged, NULL); // repaired
    assert_int_equal(damaged, 0);
    assert_int_equal(cached, all);
    assert_memory_equal(w0, w, (size_t)n0 * sizeof *w0);
    free(w);
    // a damaged length in the first record: nothing after it can be found
    flip_byte(path, first + 32);
    w = cached_run(d, &p, dir, &n, &cached, &damaged, NULL);
    assert_int_equal(damaged, 1);
    assert_int_equal(cached, 0);
    assert_memory_equal(w0, w, (size_t)n0 * sizeof *w0);
    free(w);
    // a cut last record (a writer that stopped): the others are read, the next run appends
    assert_int_equal(truncate(path, file_size(path) - 10), 0);
    w = cached_run(d, &p, dir, &n, &cached, &damaged, NULL);
    assert_int_equal(damaged, 0);
    assert_int_equal(cached, has_twin(d, all - 1) ? all : all - 1); // the last row's record
    assert_memory_equal(w0, w, (size_t)n0 * sizeof *w0);
    free(w);
    w = cached_run(d, &p, dir, &n, &cached, &damaged, NULL);
    assert_int_equal(cached, all);
    assert_memory_equal(w0, w, (size_t)n0 * sizeof *w0);
    free(w);
    // another file under its name is replaced
    char junk[100];
    memset(junk, 'x', sizeof junk);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(junk, 1, sizeof junk, f), sizeof junk);
    fclose(f);
    w = cached_run(d, &p, dir, &n, &cached, &damaged, NULL);
    assert_int_equal(cached, 0);
    assert_memory_equal(w0, w, (size_t)n0 * sizeof *w0);
    free(w);
    w = cached_run(d, &p, dir, &n, &cached, &damaged, NULL);
    assert_int_equal(cached, all);
    free(w);
    // bf16 states: another file, about half the size
    p.boundary_precision = LECTOR_PRECISION_BF16;
    char *path16 = NULL;
    w = cached_run(d, &p, dir, &n, &cached, &damaged, &path16);
    assert_int_equal(cached, 0);
    assert_string_not_equal(path16, path);
    assert_true(file_size(path16) < size * 3 / 5);
    free(w);
    w = cached_run(d, &p, dir, &n, &cached, &damaged, NULL);
    assert_int_equal(cached, all);
    free(w);
    // a size cap below the states' bytes: trained all the same, nothing stored
    struct lector__finetune_result r;
    p.cache_dir = dir;
    p.n_unfreeze = 2; // another key
    p.cache_max_size = 1000;
    run(d, &p, &r);
    assert_non_null(strstr(r.cache_warning, "size cap"));
    assert_int_equal(r.n_cached, 0);
    assert_int_equal(access(r.cache_path, F_OK), -1);
    lector__finetune_result_free(&r);
    // without a cache directory
    p.cache_dir = NULL;
    run(d, &p, &r);
    assert_null(r.cache_path);
    assert_int_equal(r.n_cached, 0);
    lector__finetune_result_free(&r);
    free(path16);
    free(path);
    free(w0);
    test_rmtree(tmp);
    free(tmp);
}

static void test_groups_and_decay_mask(void **state) {
    struct data *d = *state;
    struct lector__enc_train *tr = NULL;
    struct lector_error err = {0};
    assert_int_equal(lector__enc_train_init(d->enc, 2, LECTOR_POOLING_POOLER, &tr, &err),
                     LECTOR_STATUS_OK);
    // 16 tensors a layer, 2 for the pooler; decay on matrices only
    assert_int_equal(lector__enc_train_n_tensors(tr), 34);
    const uint8_t *decay = lector__enc_train_decay_mask(tr);
    for (int64_t i = 0; i < lector__enc_train_n_tensors(tr); i++) {
        const struct lector__train_tensor *t = lector__enc_train_tensor(tr, i);
        assert_int_equal(t->decay, t->n_dims == 2);
        for (int64_t k = 0; k < t->numel; k++) assert_int_equal(decay[t->offset + k], t->decay);
        bool layer_norm = strstr(t->name, "LayerNorm") != NULL;
        if (layer_norm || strstr(t->name, ".bias")) assert_false(t->decay);
    }
    // groups tile the parameters: layer 0, layer 1, then the pooler
    int64_t at = 0;
    for (int64_t g = 0; g <= 2; g++) {
        int64_t off, n;
        lector__enc_train_group_range(tr, g, &off, &n);
        assert_int_equal(off, at);
        at += n;
    }
    assert_int_equal(at, lector__enc_train_n_params(tr));
    lector__enc_train_free(tr);
}

// ---- n-gram weights trained jointly --------------------------------------------------

enum { S_COLS = 8 };

// Sparse rows of the texts: column 0 (0.5) in every row, then column 1 for label z = 0 or
// column 3 for z = 1 (1.0); columns 5 .. 7 never occur.
struct ngram_rows {
    int64_t offsets[N_ROWS + 1];
    int32_t cols[2 * N_ROWS];
    float vals[2 * N_ROWS];
    struct lector_sparse_rows train, valid;
};

static void ngram_rows_fill(struct ngram_rows *g, const int32_t *z) {
    for (int i = 0; i < N_ROWS; i++) {
        g->offsets[i] = 2 * i;
        g->cols[2 * i] = 0;
        g->vals[2 * i] = 0.5f;
        g->cols[2 * i + 1] = z[i] ? 3 : 1;
        g->vals[2 * i + 1] = 1.0f;
    }
    g->offsets[N_ROWS] = 2 * N_ROWS;
    // the validation rows' view: offsets from row 32 on (not rebased, as the head reads them)
    g->train = (struct lector_sparse_rows){32, S_COLS, g->offsets, g->cols, g->vals};
    g->valid = (struct lector_sparse_rows){N_ROWS - 32, S_COLS, g->offsets + 32, g->cols, g->vals};
}

static void test_joint_ngrams(void **state) {
    struct data *d = *state;
    // z: a label the tokens do not tell (they follow i % 2), the n-gram rows do
    int32_t z[N_ROWS];
    for (int i = 0; i < N_ROWS; i++) z[i] = (i / 2) % 2;
    struct ngram_rows g;
    ngram_rows_fill(&g, z);
    struct lector__finetune_params p = params(1);
    p.n_epochs = 10;
    p.adamw_sparse.lr = 0.1f;
    struct lector_error err = {0};
    struct lector__finetune_result r, plain;
    // without the n-gram rows, the encoder alone cannot tell z
    assert_int_equal(lector__finetune(d->enc, d->rows, z, 32, d->rows + 32, z + 32, N_ROWS - 32, 2,
                                      &p, &plain, &err), LECTOR_STATUS_OK);
    p.sp_train = &g.train;
    p.sp_valid = &g.valid;
    float *first = NULL;
    int64_t n_first = 0;
    for (int threads = 1; threads <= 3; threads += 2) {
        lector__kernels_set_n_threads(threads);
        if (lector__finetune(d->enc, d->rows, z, 32, d->rows + 32, z + 32, N_ROWS - 32, 2, &p, &r,
                             &err) != LECTOR_STATUS_OK)
            fail_msg("finetune: %s", err.msg);
        int64_t n;
        float *w = weights_of(&r, &n);
        if (first) {
            assert_int_equal(n, n_first);
            assert_memory_equal(first, w, (size_t)n * sizeof *w); // bit-identical
            free(w);
            continue;
        }
        first = w;
        n_first = n;
        printf("  valid accuracy: encoder alone %.3f, with n-grams %.3f\n", plain.valid_accuracy,
               r.valid_accuracy);
        assert_true(plain.valid_accuracy < 0.85);
        assert_true(r.valid_accuracy >= 0.95);
        assert_int_equal(lector_head_n_sparse(r.head), S_COLS);
        const float *V = lector_head_params(r.head) + lector_head_get_layout(r.head).V;
        // column 1 speaks for z = 0, column 3 for z = 1; unseen columns never move from 0
        assert_true(V[1 * 2 + 0] > V[1 * 2 + 1]);
        assert_true(V[3 * 2 + 1] > V[3 * 2 + 0]);
        for (int c = 5; c < S_COLS; c++) assert_true(V[c * 2] == 0.0f && V[c * 2 + 1] == 0.0f);
        // predicting without the n-gram rows is refused
        float logits[N_ROWS * 2];
        assert_int_equal(lector__finetune_predict(&r, d->rows, N_ROWS, logits, &err),
                         LECTOR_STATUS_INVALID_ARG);
        lector__finetune_result_free(&r);
    }
    lector__kernels_set_n_threads(0);
    lector__finetune_result_free(&r);
    lector__finetune_result_free(&plain);
    free(first);
}

// ---- multi-label --------------------------------------------------------------------------

enum { M_ROWS = 96, M_TRAIN = 64 };

static void test_multi_label(void **state) {
    struct data *d = *state;
    // label 0: the text holds token 20, label 1: token 21, independently (none, one or both)
    static int32_t ids[M_ROWS][LEN];
    struct lector_token_row rows[M_ROWS];
    uint8_t Y[M_ROWS * 2];
    int32_t y0[M_ROWS] = {0};
    uint64_t rng = 7;
    for (int i = 0; i < M_ROWS; i++) {
        Y[2 * i] = (uint8_t)(i % 2);
        Y[2 * i + 1] = (uint8_t)((i / 2) % 2);
        int n = 4 + i % (LEN - 4);
        for (int t = 0; t < n; t++) {
            float u = test_rand_uniform(&rng);
            int32_t tok = 30 + (int32_t)(10.0f * (u + 1.0f) / 2.0f);
            if (u < -0.2f && Y[2 * i]) tok = 20;
            else if (u > 0.2f && Y[2 * i + 1]) tok = 21;
            ids[i][t] = tok;
        }
        rows[i] = (struct lector_token_row){ids[i], n};
    }
    struct lector__finetune_params p = params(2);
    p.n_epochs = 10;
    p.Y_train = Y;
    p.Y_valid = Y + 2 * M_TRAIN;
    struct lector__finetune_result r;
    struct lector_error err = {0};
    if (lector__finetune(d->enc, rows, y0, M_TRAIN, rows + M_TRAIN, y0 + M_TRAIN, M_ROWS - M_TRAIN,
                         2, &p, &r, &err) != LECTOR_STATUS_OK)
        fail_msg("finetune: %s", err.msg);
    printf("  multi-label: best epoch %lld, exact match %.3f, macro-F1 %.3f\n",
           (long long)r.best_epoch, r.valid_accuracy, r.valid_macro_f1);
    assert_true(r.valid_macro_f1 >= 0.85);
    // the reported exact-match ratio is that of the kept weights' sigmoids at 0.5
    float logits[M_ROWS * 2];
    assert_int_equal(lector__finetune_predict(&r, rows + M_TRAIN, M_ROWS - M_TRAIN, logits, &err),
                     LECTOR_STATUS_OK);
    int exact = 0;
    for (int i = 0; i < M_ROWS - M_TRAIN; i++) {
        const uint8_t *t = Y + 2 * (M_TRAIN + i);
        exact += (logits[2 * i] >= 0.0f) == t[0] && (logits[2 * i + 1] >= 0.0f) == t[1];
    }
    assert_true(fabs(r.valid_accuracy - (double)exact / (double)(M_ROWS - M_TRAIN)) < 1e-12);
    lector__finetune_result_free(&r);
    // targets without validation targets are refused
    p.Y_valid = NULL;
    assert_int_equal(lector__finetune(d->enc, rows, y0, M_TRAIN, rows + M_TRAIN, y0 + M_TRAIN,
                                      M_ROWS - M_TRAIN, 2, &p, &r, &err),
                     LECTOR_STATUS_INVALID_ARG);
}

// ---- the frozen head's loss options and early stopping -------------------------------------

enum { MAX_EPOCHS = 16 };

// What the epochs reported.
struct history {
    int64_t n;
    double acc[MAX_EPOCHS], f1[MAX_EPOCHS], train_loss[MAX_EPOCHS], valid_loss[MAX_EPOCHS];
};

static void record_epoch(void *user, int64_t epoch, double seconds, double acc, double f1,
                         double loss, double valid_loss) {
    struct history *h = user;
    (void)seconds;
    assert_true(epoch == h->n + 1 && epoch <= MAX_EPOCHS);
    h->acc[h->n] = acc;
    h->f1[h->n] = f1;
    h->train_loss[h->n] = loss;
    h->valid_loss[h->n++] = valid_loss;
}

// Weighted, label-smoothed mean cross-entropy of logits (n, 2) in double, from the
// definitions: sum_i w[y_i] (logsumexp(z_i) - q_i . z_i) / sum_i w[y_i] with
// q_i = (1 - e) onehot(y_i) + e / 2 (w NULL: all 1).
static double ce_ref(const float *logits, const int32_t *y, int64_t n, const float *w, double e) {
    double total = 0.0, w_sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double z0 = logits[2 * i], z1 = logits[2 * i + 1];
        const double m = z0 > z1 ? z0 : z1, lse = m + log(exp(z0 - m) + exp(z1 - m));
        const double zy = y[i] ? z1 : z0, wi = w ? (double)w[y[i]] : 1.0;
        total += wi * (lse - ((1.0 - e) * zy + e / 2.0 * (z0 + z1)));
        w_sum += wi;
    }
    return total / w_sum;
}

// Binary cross-entropy per label, mean over n x 2 entries, targets t (1 - e) + e / 2.
static double bce_ref(const float *logits, const uint8_t *Y, int64_t n, double e) {
    double total = 0.0;
    for (int64_t j = 0; j < 2 * n; j++) {
        const double z = logits[j], t = (double)Y[j] * (1.0 - e) + e / 2.0;
        total += log1p(exp(-fabs(z))) + (z > 0.0 ? z : 0.0) - t * z;
    }
    return total / (double)(2 * n);
}

// One epoch of one batch (the 32 training rows), no dropout, both learning rates 0 (the
// weights never move), recording into h.
static struct lector__finetune_params frozen_weights_params(struct history *h) {
    struct lector__finetune_params p = params(1);
    p.n_epochs = 1;
    p.batch_size = 32;
    p.lr_head = p.lr_encoder = 0.0f;
    p.encoder_dropout = p.pooled_dropout = 0.0f;
    p.on_epoch = record_epoch;
    p.user = h;
    return p;
}

// With both learning rates 0 the weights never move, so the one epoch's training loss (one
// batch of all 32 rows, no dropout) is the loss of the initial weights, whose logits
// lector__finetune_predict gives: it must be the class-weighted, label-smoothed cross-entropy
// of the definitions (and the binary one of a multi-label head).
static void test_loss_options_at_zero_lr(void **state) {
    struct data *d = *state;
    const float w[2] = {0.25f, 3.0f};
    const struct {
        const float *w;
        float e;
    } cases[] = {{NULL, 0.0f}, {w, 0.0f}, {NULL, 0.2f}, {w, 0.2f}};
    float logits[32 * 2];
    struct lector_error err = {0};
    double seen[4];
    for (int c = 0; c < 4; c++) {
        struct history h = {0};
        struct lector__finetune_params p = frozen_weights_params(&h);
        p.class_weights = cases[c].w;
        p.label_smoothing = cases[c].e;
        struct lector__finetune_result r;
        run(d, &p, &r);
        assert_int_equal(h.n, 1);
        assert_int_equal(lector__finetune_predict(&r, d->rows, 32, logits, &err), LECTOR_STATUS_OK);
        const double want = ce_ref(logits, d->y, 32, cases[c].w, (double)cases[c].e);
        if (!(fabs(h.train_loss[0] - want) < 1e-5))
            fail_msg("case %d: loss %.9g, by the definition %.9g", c, h.train_loss[0], want);
        seen[c] = h.train_loss[0];
        lector__finetune_result_free(&r);
    }
    // each option changes the loss
    assert_true(seen[1] != seen[0] && seen[2] != seen[0] && seen[3] != seen[1]);
    // multi-label: label 0 is y, label 1 every third row
    uint8_t Y[N_ROWS * 2];
    int32_t y0[N_ROWS] = {0};
    for (int i = 0; i < N_ROWS; i++) Y[2 * i] = (uint8_t)d->y[i], Y[2 * i + 1] = i % 3 == 0;
    for (int c = 0; c < 2; c++) {
        struct history h = {0};
        struct lector__finetune_params p = frozen_weights_params(&h);
        p.label_smoothing = c ? 0.3f : 0.0f;
        p.Y_train = Y;
        p.Y_valid = Y + 64;
        struct lector__finetune_result r;
        run_labels(d, y0, &p, &r);
        assert_int_equal(lector__finetune_predict(&r, d->rows, 32, logits, &err), LECTOR_STATUS_OK);
        const double want = bce_ref(logits, Y, 32, (double)p.label_smoothing);
        if (!(fabs(h.train_loss[0] - want) < 1e-5))
            fail_msg("multi-label, smoothing %g: loss %.9g, by the definition %.9g",
                     (double)p.label_smoothing, h.train_loss[0], want);
        lector__finetune_result_free(&r);
    }
}

// The gradient the head hands to the tuned layers (d(loss)/d(pooled)) and its own, with class
// weights and label smoothing, against central differences of ce_ref-like loss in double
// over a linear head's definition (z = W x + b, K = 3).
enum { GC = 5, GK = 3, GB = 4 };

struct head_case {
    double W[GK * GC], b[GK], x[GB * GC];
    int32_t y[GB];
    float w[GK];
    double e;
};

static double head_loss_ref(const struct head_case *hc) {
    const double *W = hc->W, *b = hc->b, *x = hc->x, e = hc->e;
    const int32_t *y = hc->y;
    const float *w = hc->w;
    double total = 0.0, w_sum = 0.0;
    for (int i = 0; i < GB; i++) {
        double z[GK], m = -HUGE_VAL, sum = 0.0, qz = 0.0;
        for (int k = 0; k < GK; k++) {
            z[k] = b[k];
            for (int c = 0; c < GC; c++) z[k] += W[k * GC + c] * x[i * GC + c];
            m = z[k] > m ? z[k] : m;
        }
        for (int k = 0; k < GK; k++) {
            sum += exp(z[k] - m);
            qz += ((k == y[i]) * (1.0 - e) + e / GK) * z[k];
        }
        total += (double)w[y[i]] * (m + log(sum) - qz);
        w_sum += (double)w[y[i]];
    }
    return total / w_sum;
}

// The largest gap between g (n) and central differences of the loss over v (n values of hc).
static double max_fd_err(struct head_case *hc, double *v, int n, const float *g) {
    const double h = 1e-6;
    double max_err = 0.0;
    for (int j = 0; j < n; j++) {
        const double save = v[j];
        v[j] = save + h;
        const double up = head_loss_ref(hc);
        v[j] = save - h;
        const double down = head_loss_ref(hc);
        v[j] = save;
        const double err = fabs((up - down) / (2 * h) - (double)g[j]);
        max_err = err > max_err ? err : max_err;
    }
    return max_err;
}

static void test_loss_options_gradient(void **state) {
    (void)state;
    struct lector_head *head = NULL;
    assert_int_equal(lector_head_new(&(struct lector_head_shape){GC, 0, 0, GK}, 3, &head, NULL),
                     LECTOR_STATUS_OK);
    const struct lector_head_layout L = lector_head_get_layout(head);
    uint64_t rng = 5;
    float *params = lector_head_params(head), xf[GB * GC], dx[GB * GC];
    struct head_case hc = {.y = {2, 0, 2, 1}, .w = {0.5f, 2.0f, 1.25f}, .e = 0.15};
    for (int j = 0; j < GK * GC; j++) hc.W[j] = params[L.W + j] = test_rand_uniform(&rng);
    for (int k = 0; k < GK; k++) hc.b[k] = params[L.b + k] = 0.5f * test_rand_uniform(&rng);
    for (int j = 0; j < GB * GC; j++) hc.x[j] = xf[j] = 2.0f * test_rand_uniform(&rng);
    struct lector_loss_params lp = {.class_weights = hc.w, .label_smoothing = (float)hc.e};
    float loss = 0.0f;
    lector_head_zero_grad(head);
    lector_head_loss_backward(head, xf, NULL, hc.y, GB, &lp, &loss, dx);
    assert_true(fabs((double)loss - head_loss_ref(&hc)) < 1e-6);
    const float *g = lector_head_grads(head);
    double err_x = max_fd_err(&hc, hc.x, GB * GC, dx), err_w = max_fd_err(&hc, hc.W, GK * GC, g + L.W);
    double max_err = err_x > err_w ? err_x : err_w;
    printf("  max |gradient - central difference| %.3g\n", max_err);
    assert_true(max_err < 1e-6);
    lector_head_free(head);
}

// Class weights all equal leave training as it is, bit for bit (the weighted mean is the
// mean); a class weighted 0 teaches nothing, so the model ends up predicting the other class
// for every text.
static void test_class_weights_effect(void **state) {
    struct data *d = *state;
    struct lector__finetune_params p = params(1);
    struct lector__finetune_result r;
    run(d, &p, &r);
    int64_t n0;
    float *w0 = weights_of(&r, &n0);
    lector__finetune_result_free(&r);
    const float ones[2] = {1.0f, 1.0f}, twos[2] = {2.0f, 2.0f};
    const float *same[2] = {ones, twos};
    for (int c = 0; c < 2; c++) {
        p.class_weights = same[c];
        run(d, &p, &r);
        int64_t n;
        float *w = weights_of(&r, &n);
        assert_int_equal(n, n0);
        assert_memory_equal(w, w0, (size_t)n * sizeof *w);
        free(w);
        lector__finetune_result_free(&r);
    }
    free(w0);
    float logits[N_ROWS * 2];
    struct lector_error err = {0};
    for (int only = 0; only < 2; only++) {
        const float w[2] = {(float)(only == 0), (float)(only == 1)};
        p.class_weights = w;
        run(d, &p, &r);
        assert_int_equal(lector__finetune_predict(&r, d->rows, N_ROWS, logits, &err),
                         LECTOR_STATUS_OK);
        for (int i = 0; i < N_ROWS; i++)
            assert_int_equal(logits[2 * i + 1] > logits[2 * i], only);
        lector__finetune_result_free(&r);
    }
}

// Early stopping: a run of 12 epochs on labels the tokens do not tell records the validation
// history; with patience 2, the run must stop where that history says by the documented rule
// (better: a macro-F1 above the best by more than min_delta, or within min_delta of it with a
// lower validation loss), with the best epoch's weights.
static void test_patience(void **state) {
    struct data *d = *state;
    int32_t noise[N_ROWS];
    uint64_t rng = 2024;
    for (int i = 0; i < N_ROWS; i++) noise[i] = test_rand_uniform(&rng) > 0.0f;
    struct lector__finetune_params p = params(1);
    p.n_epochs = 12;
    p.lr_head = 3e-2f;
    p.lr_encoder = 3e-3f;
    struct history full = {0}, cut = {0};
    p.on_epoch = record_epoch;
    p.user = &full;
    struct lector__finetune_result r;
    run_labels(d, noise, &p, &r);
    assert_int_equal(r.n_epochs_run, 12);
    lector__finetune_result_free(&r);
    // the stop epoch and the best one, by the rule, from the full run's history
    const int64_t patience = 2;
    const double md = (double)p.min_delta;
    double best_f1 = -1.0, best_loss = HUGE_VAL;
    int64_t best = 0, stop = 12, since = 0;
    for (int64_t e = 1; e <= 12; e++) {
        const double f1 = full.f1[e - 1], vl = full.valid_loss[e - 1];
        if (f1 > best_f1 + md || (f1 >= best_f1 - md && vl < best_loss)) {
            best = e;
            best_f1 = f1 > best_f1 ? f1 : best_f1;
            best_loss = vl;
            since = 0;
        } else if (++since >= patience) {
            stop = e;
            break;
        }
    }
    printf("  history says: best epoch %lld, stop after epoch %lld of 12\n", (long long)best,
           (long long)stop);
    assert_true(stop < 12); // the data make the rule stop early
    p.patience = patience;
    p.user = &cut;
    run_labels(d, noise, &p, &r);
    assert_int_equal(r.n_epochs_run, stop);
    assert_int_equal(cut.n, stop);
    assert_int_equal(r.best_epoch, best);
    assert_memory_equal(cut.f1, full.f1, (size_t)stop * sizeof cut.f1[0]);
    assert_true(r.valid_accuracy == full.acc[best - 1]);
    // the kept weights are the best epoch's: their validation accuracy is its accuracy
    float logits[(N_ROWS - 32) * 2];
    struct lector_error err = {0};
    assert_int_equal(lector__finetune_predict(&r, d->rows + 32, N_ROWS - 32, logits, &err),
                     LECTOR_STATUS_OK);
    int correct = 0;
    for (int i = 0; i < N_ROWS - 32; i++) correct += (logits[2 * i + 1] > logits[2 * i]) == noise[32 + i];
    assert_true(fabs((double)correct / (N_ROWS - 32) - full.acc[best - 1]) < 1e-12);
    lector__finetune_result_free(&r);
}

// ---- interruption -------------------------------------------------------------------------

struct stopper {
    volatile int flag;
    int64_t at_epoch; // raise the flag after this epoch (0: once the frozen pass is done)
    int64_t epochs_seen;
    int started;
};

static void stop_on_start(void *user) {
    struct stopper *s = user;
    s->started = 1;
    if (s->at_epoch == 0) s->flag = 1;
}

static void stop_on_epoch(void *user, int64_t epoch, double seconds, double acc, double f1,
                          double loss, double valid_loss) {
    struct stopper *s = user;
    (void)seconds, (void)acc, (void)f1, (void)loss, (void)valid_loss;
    s->epochs_seen = epoch;
    if (epoch == s->at_epoch) s->flag = 1;
}

static int count_entries(const char *dir) {
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    int n = 0;
    for (struct dirent *e; (e = readdir(dp));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(dp);
    return n;
}

static void test_cancel(void **state) {
    struct data *d = *state;
    char *tmp = test_mkdtemp();
    assert_non_null(tmp);
    const char *old = getenv("TMPDIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("TMPDIR", tmp, 1);
    // raised before the start: the frozen pass stops at its first batch; raised once it is
    // done: no step runs; raised after epoch 1 of 6: epoch 2 does not finish. The states
    // spill to a file (budget 0), which is gone each time.
    for (int64_t at = -1; at <= 1; at++) {
        struct stopper st = {at < 0, at < 0 ? 99 : at, 0, 0};
        struct lector__finetune_params p = params(1);
        p.memory_budget = 0;
        p.cancel = &st.flag;
        p.on_start = stop_on_start;
        p.on_epoch = stop_on_epoch;
        p.user = &st;
        struct lector__finetune_result r;
        struct lector_error err = {0};
        assert_int_equal(lector__finetune(d->enc, d->rows, d->y, 32, d->rows + 32, d->y + 32,
                                          N_ROWS - 32, 2, &p, &r, &err),
                         LECTOR_STATUS_INTERRUPTED);
        assert_non_null(strstr(err.msg, "interrupted"));
        assert_int_equal(st.started, at >= 0);
        assert_int_equal(st.epochs_seen, at > 0 ? at : 0);
        assert_null(r.head);
        assert_null(r.tr);
        assert_int_equal(count_entries(tmp), 0);
    }
    if (saved) setenv("TMPDIR", saved, 1);
    else unsetenv("TMPDIR");
    free(saved);
    test_rmtree(tmp);
    free(tmp);
}

static void test_bad_arguments(void **state) {
    struct data *d = *state;
    struct lector__finetune_params p = params(3); // the tiny encoder has 2 layers
    struct lector__finetune_result r;
    struct lector_error err = {0};
    assert_int_equal(lector__finetune(d->enc, d->rows, d->y, 32, NULL, NULL, 0, 2, &p, &r, &err),
                     LECTOR_STATUS_INVALID_ARG);
    assert_non_null(strstr(err.msg, "unfreeze 3 layers"));
    p = params(1);
    int32_t bad[32];
    memcpy(bad, d->y, sizeof bad);
    bad[5] = 2;
    assert_int_equal(lector__finetune(d->enc, d->rows, bad, 32, NULL, NULL, 0, 2, &p, &r, &err),
                     LECTOR_STATUS_RANGE);
    assert_non_null(strstr(err.msg, "row 5"));
    struct lector_token_row empty[1] = {{d->ids[0], 0}};
    int32_t y1[1] = {0};
    assert_int_equal(lector__finetune(d->enc, empty, y1, 1, NULL, NULL, 0, 2, &p, &r, &err),
                     LECTOR_STATUS_RANGE);
    // n-gram rows whose count is not the texts'
    int32_t z[N_ROWS] = {0};
    struct ngram_rows g;
    ngram_rows_fill(&g, z);
    p.sp_train = &g.valid;
    assert_int_equal(lector__finetune(d->enc, d->rows, d->y, 32, NULL, NULL, 0, 2, &p, &r, &err),
                     LECTOR_STATUS_INVALID_ARG);
    // the loss options and patience out of range
    const float smoothing[] = {1.0f, -0.1f, NAN};
    for (int c = 0; c < 3; c++) {
        p = params(1);
        p.label_smoothing = smoothing[c];
        assert_int_equal(lector__finetune(d->enc, d->rows, d->y, 32, NULL, NULL, 0, 2, &p, &r, &err),
                         LECTOR_STATUS_INVALID_ARG);
        assert_non_null(strstr(err.msg, "label smoothing"));
    }
    p = params(1);
    p.n_hidden = -1;
    assert_int_equal(lector__finetune(d->enc, d->rows, d->y, 32, NULL, NULL, 0, 2, &p, &r, &err),
                     LECTOR_STATUS_INVALID_ARG);
    assert_non_null(strstr(err.msg, "hidden units"));
    p = params(1);
    p.n_hidden = 4;
    p.hidden_dropout = 1.0f;
    assert_int_equal(lector__finetune(d->enc, d->rows, d->y, 32, NULL, NULL, 0, 2, &p, &r, &err),
                     LECTOR_STATUS_INVALID_ARG);
    assert_non_null(strstr(err.msg, "dropout 1"));
    p = params(1);
    p.patience = -1;
    assert_int_equal(lector__finetune(d->enc, d->rows, d->y, 32, NULL, NULL, 0, 2, &p, &r, &err),
                     LECTOR_STATUS_INVALID_ARG);
    assert_non_null(strstr(err.msg, "patience -1"));
    const float bad_w[][2] = {{1.0f, -0.5f}, {NAN, 1.0f}, {1.0f, INFINITY}};
    for (int c = 0; c < 3; c++) {
        p = params(1);
        p.class_weights = bad_w[c];
        assert_int_equal(lector__finetune(d->enc, d->rows, d->y, 32, NULL, NULL, 0, 2, &p, &r, &err),
                         LECTOR_STATUS_INVALID_ARG);
        assert_non_null(strstr(err.msg, c == 1 ? "class 0" : "class 1"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns_toy_task),
        cmocka_unit_test(test_bit_identical_threads_and_spill),
        cmocka_unit_test(test_bf16_states),
        cmocka_unit_test(test_mlp_head),
        cmocka_unit_test(test_states_cache),
        cmocka_unit_test(test_groups_and_decay_mask),
        cmocka_unit_test(test_joint_ngrams),
        cmocka_unit_test(test_multi_label),
        cmocka_unit_test(test_loss_options_at_zero_lr),
        cmocka_unit_test(test_loss_options_gradient),
        cmocka_unit_test(test_class_weights_effect),
        cmocka_unit_test(test_patience),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_bad_arguments),
    };
    return test_status(cmocka_run_group_tests(tests, setup, teardown));
}
