/*
 * Classify strings with a model written by `lector train`, using the installed library.
 *
 *   cc classify.c $(pkg-config --cflags --libs --static lector) -o classify
 *   ./classify MODEL "a wonderful film" "a dull book"
 *
 * Prints LABEL<TAB>PROBABILITY for each string. Load once, keep one encoder state per
 * thread, free everything at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lector/classifier.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL TEXT...\n", argv[0]);
        return 2;
    }
    struct lector_error err;
    struct lector_classifier *clf = NULL;
    if (lector_classifier_open(argv[1], NULL, NULL, &clf, &err) != LECTOR_STATUS_OK) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    struct lector_encoder_state *st = NULL;
    if (lector_encoder_state_new(lector_classifier_encoder(clf), &st, &err) != LECTOR_STATUS_OK) {
        fprintf(stderr, "error: %s\n", err.msg);
        lector_classifier_close(clf);
        return 1;
    }
    const int64_t n = argc - 2, K = lector_classifier_n_labels(clf);
    const char **texts = (const char **)(argv + 2);
    size_t *lens = malloc((size_t)n * sizeof *lens);
    float *probs = malloc((size_t)(n * K) * sizeof *probs);
    enum lector_status *bad = malloc((size_t)n * sizeof *bad);
    for (int64_t i = 0; i < n; i++) lens[i] = strlen(texts[i]);
    int rc = 0;
    if (lector_classifier_predict(clf, st, texts, lens, n, probs, bad, &err) != LECTOR_STATUS_OK) {
        fprintf(stderr, "error: %s\n", err.msg);
        rc = 1;
    } else {
        for (int64_t i = 0; i < n; i++) {
            if (bad[i] != LECTOR_STATUS_OK) {
                printf("\n");
                rc = 1;
                continue;
            }
            int64_t best = 0;
            for (int64_t k = 1; k < K; k++)
                if (probs[i * K + k] > probs[i * K + best]) best = k;
            printf("%s\t%.6f\n", lector_classifier_label(clf, best), (double)probs[i * K + best]);
        }
    }
    free(bad);
    free(probs);
    free(lens);
    lector_encoder_state_free(st);
    lector_classifier_close(clf);
    return rc;
}
