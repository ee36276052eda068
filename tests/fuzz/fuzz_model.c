// Fuzz target: the classifier model file (safetensors + metadata) loaded against a fixed tiny
// encoder, as `lector classify --model` would. The encoder is made once per process.
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lector/checkpoint.h"
#include "lector/classifier.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], model[96];

// A minimal valid BERT: L=1, C=8, H=2, F=16, 16 positions, a 12-token vocab, zero weights.
static int make_encoder(void) {
    snprintf(dir, sizeof dir, "/tmp/lector-fuzz-enc-%ld", (long)getpid());
    mkdir(dir, 0755);
    char p[128];
    snprintf(p, sizeof p, "%s/vocab.txt", dir);
    FILE *fp = fopen(p, "w");
    if (!fp) return -1;
    fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nc\nthe\nfilm\ngood\nbad\n", fp);
    fclose(fp);
    snprintf(p, sizeof p, "%s/config.json", dir);
    fp = fopen(p, "w");
    if (!fp) return -1;
    fputs("{\"model_type\":\"bert\",\"vocab_size\":12,\"hidden_size\":8,\"num_hidden_layers\":1,"
          "\"num_attention_heads\":2,\"intermediate_size\":16,\"max_position_embeddings\":16,"
          "\"type_vocab_size\":2,\"hidden_act\":\"gelu\"}", fp);
    fclose(fp);
    static float zeros[12 * 16];
    struct lector_tensor t[16];
    const char *names[16] = {"embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
                             "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight",
                             "embeddings.LayerNorm.bias", "encoder.layer.0.attention.self.query.weight",
                             "encoder.layer.0.attention.self.query.bias", "encoder.layer.0.attention.self.key.weight",
                             "encoder.layer.0.attention.self.key.bias", "encoder.layer.0.attention.self.value.weight",
                             "encoder.layer.0.attention.self.value.bias", "encoder.layer.0.attention.output.dense.weight",
                             "encoder.layer.0.attention.output.dense.bias", "encoder.layer.0.attention.output.LayerNorm.weight",
                             "encoder.layer.0.attention.output.LayerNorm.bias", "encoder.layer.0.intermediate.dense.weight"};
    const int64_t shapes[16][2] = {{12, 8}, {16, 8}, {2, 8}, {8, 0}, {8, 0}, {8, 8}, {8, 0}, {8, 8},
                                   {8, 0},  {8, 8},  {8, 0}, {8, 8}, {8, 0}, {8, 0}, {8, 0}, {16, 8}};
    struct lector_tensor all[21];
    int n = 0;
    for (int i = 0; i < 16; i++) {
        t[i] = (struct lector_tensor){LECTOR_DTYPE_F32, shapes[i][1] ? 2 : 1,
                                      {shapes[i][0], shapes[i][1] ? shapes[i][1] : 1, 1, 1},
                                      {shapes[i][1] ? shapes[i][1] : 1, 1, 1, 1}, zeros, names[i]};
        all[n++] = t[i];
    }
    const char *rest[5] = {"encoder.layer.0.intermediate.dense.bias", "encoder.layer.0.output.dense.weight",
                           "encoder.layer.0.output.dense.bias", "encoder.layer.0.output.LayerNorm.weight",
                           "encoder.layer.0.output.LayerNorm.bias"};
    const int64_t rs[5][2] = {{16, 0}, {8, 16}, {8, 0}, {8, 0}, {8, 0}};
    for (int i = 0; i < 5; i++)
        all[n++] = (struct lector_tensor){LECTOR_DTYPE_F32, rs[i][1] ? 2 : 1,
                                          {rs[i][0], rs[i][1] ? rs[i][1] : 1, 1, 1},
                                          {rs[i][1] ? rs[i][1] : 1, 1, 1, 1}, zeros, rest[i]};
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    struct lector_error err;
    return lector_safetensors_write(p, all, n, NULL, NULL, 0, &err) == LECTOR_STATUS_OK ? 0 : -1;
}

static void cleanup(void) {
    const char *files[] = {"vocab.txt", "config.json", "model.safetensors", "m.lector"};
    char p[160];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > ((size_t)256 << 10)) return 0;
    if (!dir[0]) {
        if (make_encoder() != 0) abort();
        atexit(cleanup);
        snprintf(model, sizeof model, "%s/m.lector", dir);
    }
    FILE *fp = fopen(model, "wb");
    if (!fp) return 0;
    if (size) fwrite(data, 1, size, fp);
    fclose(fp);
    struct lector_classifier *clf = NULL;
    struct lector_error err;
    if (lector_classifier_open(model, dir, NULL, &clf, &err) == LECTOR_STATUS_OK) {
        // A model that loads must classify.
        struct lector_encoder_state *st = NULL;
        if (lector_encoder_state_new(lector_classifier_encoder(clf), &st, &err) == LECTOR_STATUS_OK) {
            const char *text = "the good film";
            size_t len = strlen(text);
            float probs[64];
            if (lector_classifier_n_labels(clf) <= 64)
                lector_classifier_predict(clf, st, &text, &len, 1, probs, NULL, &err);
        }
        lector_encoder_state_free(st);
    }
    lector_classifier_close(clf);
    return 0;
}
