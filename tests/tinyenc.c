/*
 * A small random-initialised BERT checkpoint in Hugging Face layout (config.json, vocab.txt,
 * tokenizer_config.json, model.safetensors), so that tests run without any downloaded or
 * shared model. The vocabulary holds the
 * special tokens, ASCII letters and punctuation (with ## continuations) and a few hundred
 * common English words, so any ASCII text tokenizes without [UNK] floods.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lector/checkpoint.h"
#include "tinyenc.h"

enum { L = 2, C = 32, H = 2, F = 64, NPOS = 64, NTYPE = 2 };

static const char *words[] = {
    "the", "a", "an", "and", "or", "but", "not", "no", "is", "was", "are", "were", "be", "it",
    "this", "that", "i", "we", "you", "they", "he", "she", "my", "our", "your", "of", "to", "in",
    "on", "for", "with", "at", "from", "by", "as", "so", "very", "really", "too", "what", "film",
    "movie", "book", "novel", "story", "hotel", "room", "staff", "food", "restaurant", "phone",
    "good", "great", "bad", "awful", "wonderful", "terrible", "boring", "dull", "lovely",
    "excellent", "fantastic", "brilliant", "poor", "love", "loved", "hate", "hated", "like",
    "recommend", "money", "time", "waste", "worth", "every", "minute", "back", "again", "would",
    "will", "never", "ever", "best", "worst", "experience", "found", "felt", "made", "day",
    "evening", "penny", "start", "finish", "return", "soon", "go", "want", "regret", "one",
    "two", "new", "old", "happy", "sad", "nice", "fun", "funny", "slow", "fast", "cheap",
};

// splitmix64 + Box-Muller: deterministic normal numbers from a seed.
static uint64_t rng_state;
static uint64_t next_u64(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static float normal(float sd) {
    double u1 = ((double)(next_u64() >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (double)(next_u64() >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2)) * sd;
}

struct wbuf {
    struct lector_tensor t[64];
    char names[64][96];
    int n;
};

static float *add(struct wbuf *w, const char *name, int64_t d0, int64_t d1, int kind) {
    struct lector_tensor *t = &w->t[w->n];
    snprintf(w->names[w->n], sizeof w->names[w->n], "%s", name);
    int64_t numel = d0 * (d1 ? d1 : 1);
    float *data = malloc((size_t)numel * sizeof *data);
    for (int64_t i = 0; i < numel; i++)
        data[i] = kind == 0 ? normal(0.1f) : kind == 1 ? 1.0f + normal(0.05f) : normal(0.02f);
    t->dtype = LECTOR_DTYPE_F32;
    t->n_dims = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1 ? d1 : 1;
    t->shape[2] = t->shape[3] = 1;
    t->stride[0] = d1 ? d1 : 1;
    t->stride[1] = t->stride[2] = t->stride[3] = 1;
    t->data = data;
    t->name = w->names[w->n];
    w->n++;
    return data;
}

int test_make_tiny_encoder(const char *dir, uint64_t seed) {
    rng_state = seed;
    char path[4096];

    // vocab.txt
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    FILE *fp = fopen(path, "w");
    if (!fp) {
        perror(path);
        return 1;
    }
    int64_t V = 0;
    const char *specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (size_t i = 0; i < 5; i++, V++) fprintf(fp, "%s\n", specials[i]);
    for (int c = 33; c < 127; c++, V++) fprintf(fp, "%c\n", c);
    for (int c = 33; c < 127; c++, V++) fprintf(fp, "##%c\n", c);
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++, V++) fprintf(fp, "%s\n", words[i]);
    fclose(fp);

    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    fp = fopen(path, "w");
    fputs("{\"do_lower_case\": true, \"tokenizer_class\": \"BertTokenizer\"}\n", fp);
    fclose(fp);

    snprintf(path, sizeof path, "%s/config.json", dir);
    fp = fopen(path, "w");
    fprintf(fp,
            "{\"model_type\": \"bert\", \"architectures\": [\"BertModel\"], \"vocab_size\": %lld,\n"
            " \"hidden_size\": %d, \"num_hidden_layers\": %d, \"num_attention_heads\": %d,\n"
            " \"intermediate_size\": %d, \"max_position_embeddings\": %d, \"type_vocab_size\": %d,\n"
            " \"hidden_act\": \"gelu\", \"layer_norm_eps\": 1e-12, \"pad_token_id\": 0}\n",
            (long long)V, C, L, H, F, NPOS, NTYPE);
    fclose(fp);

    struct wbuf *w = calloc(1, sizeof *w);
    add(w, "embeddings.word_embeddings.weight", V, C, 0);
    add(w, "embeddings.position_embeddings.weight", NPOS, C, 0);
    add(w, "embeddings.token_type_embeddings.weight", NTYPE, C, 0);
    add(w, "embeddings.LayerNorm.weight", C, 0, 1);
    add(w, "embeddings.LayerNorm.bias", C, 0, 2);
    for (int l = 0; l < L; l++) {
        char n[96];
#define T(suffix, d0, d1, kind)                                          \
    snprintf(n, sizeof n, "encoder.layer.%d.%s", l, suffix);             \
    add(w, n, d0, d1, kind)
        T("attention.self.query.weight", C, C, 0);
        T("attention.self.query.bias", C, 0, 2);
        T("attention.self.key.weight", C, C, 0);
        T("attention.self.key.bias", C, 0, 2);
        T("attention.self.value.weight", C, C, 0);
        T("attention.self.value.bias", C, 0, 2);
        T("attention.output.dense.weight", C, C, 0);
        T("attention.output.dense.bias", C, 0, 2);
        T("attention.output.LayerNorm.weight", C, 0, 1);
        T("attention.output.LayerNorm.bias", C, 0, 2);
        T("intermediate.dense.weight", F, C, 0);
        T("intermediate.dense.bias", F, 0, 2);
        T("output.dense.weight", C, F, 0);
        T("output.dense.bias", C, 0, 2);
        T("output.LayerNorm.weight", C, 0, 1);
        T("output.LayerNorm.bias", C, 0, 2);
#undef T
    }
    add(w, "pooler.dense.weight", C, C, 0);
    add(w, "pooler.dense.bias", C, 0, 2);

    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    struct lector_error err;
    const char *k[] = {"format"}, *v[] = {"pt"};
    int rc = lector_safetensors_write(path, w->t, w->n, k, v, 1, &err) == LECTOR_STATUS_OK ? 0 : 1;
    if (rc) fprintf(stderr, "make_tiny_encoder: %s\n", err.msg);
    for (int i = 0; i < w->n; i++) free(w->t[i].data);
    free(w);
    return rc;
}
