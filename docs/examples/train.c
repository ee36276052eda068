/*
 * Train a classifier on a labelled CSV file and evaluate it on another, using the installed
 * library: what `lector train` and `lector eval` do, with the same defaults.
 *
 *   cc train.c $(pkg-config --cflags --libs --static lector) -o train
 *   ./train ENCODER_DIR TRAIN.csv TEST.csv MODEL [EPOCHS]
 *
 * The model file is byte for byte the one `lector train --encoder ENCODER_DIR --train
 * TRAIN.csv --no-cache --output MODEL [--epochs EPOCHS]` writes. Prints the validation and
 * test accuracy.
 */
#include <stdio.h>
#include <stdlib.h>

#include <lector/eval.h>
#include <lector/train.h>

static void on_event(void *user, const struct lector_event *e) {
    (void)user;
    if (e->kind == LECTOR_EVENT_EPOCH)
        fprintf(stderr, "epoch %lld: train loss %.4f\n", (long long)e->epoch->epoch, e->epoch->train_loss);
}

int main(int argc, char **argv) {
    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: %s ENCODER_DIR TRAIN.csv TEST.csv MODEL [EPOCHS]\n", argv[0]);
        return 2;
    }
    struct lector_train_options o;
    lector_train_options_init(&o); /* the defaults of `lector train` */
    o.encoder_dir = argv[1];
    o.train_path = argv[2];        /* a stratified 10% is held out for validation */
    if (argc == 6) o.head.n_epochs = atoi(argv[5]);
    o.on_event = on_event;

    struct lector_error err;
    struct lector_classifier *clf = NULL;
    struct lector_eval_report valid, test;
    if (lector_train(&o, &clf, &valid, &err) != LECTOR_STATUS_OK) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    if (lector_classifier_save(clf, argv[4], &err) != LECTOR_STATUS_OK ||
        lector_evaluate(clf, argv[3], NULL, &test, &err) != LECTOR_STATUS_OK) {
        fprintf(stderr, "error: %s\n", err.msg);
        rc = 1;
    } else {
        printf("validation accuracy %.4f (%lld texts)\n", valid.metrics.accuracy, (long long)valid.n);
        printf("test accuracy %.4f, macro-F1 %.4f (%lld texts)\n", test.metrics.accuracy,
               test.metrics.macro_f1, (long long)test.n);
        lector_eval_report_free(&test);
    }
    lector_eval_report_free(&valid);
    lector_classifier_close(clf);
    return rc;
}
