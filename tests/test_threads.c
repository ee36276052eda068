// One shared classifier, several threads, one encoder state each: every thread must get
// bit-identical probabilities to a single-threaded run of the same batches, also when the
// threads start on a freshly opened classifier (their first forwards race with the packing
// of its layers). Run under ThreadSanitizer with -DLECTOR_SANITIZE_THREAD=ON.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lector/classifier.h"
#include "task/task_impl.h"
#include "testutil.h"
#include "tinyenc.h"

enum { N_TEXTS = 48, N_THREADS = 4, BATCH = 8, ROUNDS = 3 };

static const char *texts[N_TEXTS];
static size_t lens[N_TEXTS];
static char text_buf[N_TEXTS][96];

struct shared {
    const struct lector_classifier *clf;
    const float *expected; /* (N_TEXTS, K) */
    int64_t K;
};

struct worker {
    const struct shared *sh;
    int id;
    int mismatches;
    int errors;
};

static void classify_all(const struct lector_classifier *clf, struct lector_encoder_state *st, float *out,
                         int64_t K, int *errors) {
    struct lector_error err;
    for (int i = 0; i < N_TEXTS; i += BATCH)
        if (lector_classifier_predict(clf, st, texts + i, lens + i, BATCH, out + i * K, NULL, &err) !=
            LECTOR_STATUS_OK)
            (*errors)++;
}

static void *run_worker(void *arg) {
    struct worker *w = arg;
    struct lector_encoder_state *st = NULL;
    struct lector_error err;
    if (lector_encoder_state_new(lector_classifier_encoder(w->sh->clf), &st, &err) != LECTOR_STATUS_OK) {
        w->errors++;
        return NULL;
    }
    float *out = malloc(sizeof(float) * N_TEXTS * (size_t)w->sh->K);
    for (int r = 0; r < ROUNDS; r++) {
        classify_all(w->sh->clf, st, out, w->sh->K, &w->errors);
        if (memcmp(out, w->sh->expected, sizeof(float) * N_TEXTS * (size_t)w->sh->K) != 0) w->mismatches++;
    }
    free(out);
    lector_encoder_state_free(st);
    return NULL;
}

static void test_threads_share_one_classifier(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    assert_int_equal(test_make_tiny_encoder(dir, 7), 0);
    struct lector_error err;
    struct lector_encoder *enc = NULL;
    struct lector_tokenizer *tok = NULL;
    struct lector_head *head = NULL;
    assert_int_equal(lector_encoder_open(dir, &enc, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_tokenizer_open(dir, &tok, &err), LECTOR_STATUS_OK);
    const int64_t K = 3, C = lector_encoder_get_config(enc)->n_embd;
    assert_int_equal(lector_head_new(&(struct lector_head_shape){C, 0, 0, K}, 11, &head, &err), LECTOR_STATUS_OK);
    const char *labels[] = {"a", "b", "c"};
    struct lector_classifier_info info = {.pooling = LECTOR_POOLING_MEAN, .max_len = 32, .valid_accuracy = -1.0,
                                          .temperature = 1.0f, .valid_macro_f1 = -1.0};
    char model[4200];
    snprintf(model, sizeof model, "%s/m.lector", dir);
    // The head's logits for one input, to compare with the loaded classifier's head.
    float *x1 = malloc((size_t)C * sizeof *x1), logits0[3], logits1[3];
    assert_non_null(x1);
    for (int64_t c = 0; c < C; c++) x1[c] = (float)(c % 7) * 0.25f - 0.75f;
    lector_head_forward(head, x1, NULL, 1, logits0, NULL);
    struct lector_classifier *made = NULL;
    assert_int_equal(lector__classifier_new(enc, tok, head, labels, K, &info, NULL, &made, &err),
                     LECTOR_STATUS_OK);
    assert_int_equal(lector_classifier_save(made, model, &err), LECTOR_STATUS_OK);
    lector_classifier_close(made);

    struct lector_classifier *clf = NULL;
    assert_int_equal(lector_classifier_open(model, NULL, NULL, &clf, &err), LECTOR_STATUS_OK);
    assert_non_null(lector_classifier_head(clf));
    assert_int_equal(lector_head_n_classes(lector_classifier_head(clf)), K);
    lector_head_forward(lector_classifier_head(clf), x1, NULL, 1, logits1, NULL);
    assert_memory_equal(logits0, logits1, sizeof logits0);
    free(x1);
    float *expected = malloc(sizeof(float) * N_TEXTS * (size_t)K);
    struct lector_encoder_state *st = NULL;
    assert_int_equal(lector_encoder_state_new(lector_classifier_encoder(clf), &st, &err), LECTOR_STATUS_OK);
    int errors = 0;
    classify_all(clf, st, expected, K, &errors);
    assert_int_equal(errors, 0);
    lector_encoder_state_free(st);

    // the threads share a classifier opened afresh: their first forwards race, one on the
    // plain matrices while the others pack the layers (lazy packing)
    struct lector_classifier *fresh = NULL;
    assert_int_equal(lector_classifier_open(model, NULL, NULL, &fresh, &err), LECTOR_STATUS_OK);
    struct shared sh = {fresh, expected, K};
    pthread_t th[N_THREADS];
    struct worker w[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        w[i] = (struct worker){&sh, i, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, run_worker, &w[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].errors, 0);
        assert_int_equal(w[i].mismatches, 0);
    }
    free(expected);
    lector_classifier_close(fresh);
    lector_classifier_close(clf);
    test_rmtree(dir);
    free(dir);
}

int main(void) {
    static const char *words[] = {"the", "film", "was", "good", "bad", "book", "dull", "lovely", "hotel",
                                  "staff", "awful", "great"};
    for (int i = 0; i < N_TEXTS; i++) {
        int n = 0;
        // Texts of varied lengths so batches are padded differently.
        for (int w = 0; w <= i % 11; w++)
            n += snprintf(text_buf[i] + n, sizeof text_buf[i] - (size_t)n, "%s%s", w ? " " : "",
                          words[(i * 7 + w * 3) % 12]);
        texts[i] = text_buf[i];
        lens[i] = (size_t)n;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_threads_share_one_classifier)};
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
