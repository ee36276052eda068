// Golden parity of the WordPiece tokenizer with Hugging Face tokenizers: every id of the 250
// cases of each shared BERT vocabulary, and the text batches of the two encoder fixtures
// that ship tokenizer files (opened through lector_tokenizer_open).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lector/tokenizer.h"
#include "testutil.h"
#include "tokgolden.h"

// Run every case of fixtures/tokenizers/<name>/cases.jsonl; returns the number identical.
static int run_cases(const char *name, const struct lector_tokenizer *tok, int *n_cases) {
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/tokenizers/%s/cases.jsonl", name);
    return golden_run(test_shared_path(rel), name, tok, false, n_cases);
}

static struct lector_tokenizer *open_with_config(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/tokenizers/%s/tokenizer_config.json", name);
    json_error_t je;
    json_t *cfg = json_load_file(test_shared_path(rel), 0, &je);
    assert_non_null(cfg);
    json_t *lower = json_object_get(cfg, "do_lower_case");
    json_t *strip = json_object_get(cfg, "strip_accents");
    json_t *cjk = json_object_get(cfg, "tokenize_chinese_chars");
    int do_lower = lower ? json_is_true(lower) : 1;
    int strip_accents = (!strip || json_is_null(strip)) ? -1 : json_is_true(strip);
    int do_cjk = cjk ? json_is_true(cjk) : 1;
    json_decref(cfg);

    snprintf(rel, sizeof rel, "vocab/%s/vocab.txt", name);
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    enum lector_status st = lector_tokenizer_open_wordpiece(test_shared_path(rel), do_lower,
                                                            strip_accents, do_cjk, &tok, &err);
    if (st != LECTOR_STATUS_OK) fprintf(stderr, "open %s: %s\n", name, err.msg);
    assert_int_equal(st, LECTOR_STATUS_OK);
    return tok;
}

// The same cases through tokenizer.json alone (vocabulary, normaliser flags and added
// tokens all from that file), in a directory without vocab.txt.
static int check_tokenizer_json(const char *name, int *n_cases) {
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/tokenizers/%s/tokenizer.json", name);
    size_t n = 0;
    char *json = test_read_file(test_shared_path(rel), &n);
    assert_non_null(json);
    char *dir = test_mkdtemp();
    free(test_write_file(dir, "tokenizer.json", json, n));
    free(json);
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    enum lector_status st = lector_tokenizer_open(dir, &tok, &err);
    if (st != LECTOR_STATUS_OK) fprintf(stderr, "open %s tokenizer.json: %s\n", name, err.msg);
    assert_int_equal(st, LECTOR_STATUS_OK);
    int n_same = run_cases(name, tok, n_cases);
    lector_tokenizer_close(tok);
    test_rmtree(dir);
    free(dir);
    return n_same;
}

static void check_vocab(const char *name) {
    struct lector_tokenizer *tok = open_with_config(name);
    int n_cases = 0;
    int n_same = run_cases(name, tok, &n_cases);
    printf("%s: %d/%d identical\n", name, n_same, n_cases);
    int n_cases_json = 0;
    int n_same_json = check_tokenizer_json(name, &n_cases_json);
    printf("%s (tokenizer.json): %d/%d identical\n", name, n_same_json, n_cases_json);
    fflush(stdout);
    assert_int_equal(n_cases, 250);
    assert_int_equal(n_same, n_cases);
    assert_int_equal(n_cases_json, 250);
    assert_int_equal(n_same_json, n_cases_json);
    lector_tokenizer_close(tok);
}

// Every vocabulary entry of the greatest byte length (the longest-match window) that is a
// plain lowercase ASCII word must be matched whole: alone, as one id between [CLS] and [SEP],
// and as the first piece of a longer word (the entry + "s", where the window, not the word's
// end, bounds the match). A window one byte short splits it; no golden case holds such a word.
static void check_longest_words_whole(const char *name) {
    struct lector_tokenizer *tok = open_with_config(name);
    char rel[256];
    snprintf(rel, sizeof rel, "vocab/%s/vocab.txt", name);
    size_t n = 0;
    char *data = test_read_file(test_shared_path(rel), &n);
    assert_non_null(data);
    size_t longest = 0;
    for (char *p = data; *p;) {
        size_t len = strcspn(p, "\n");
        if (len > longest) longest = len;
        p += len + (p[len] == '\n');
    }
    int n_checked = 0, id = 0;
    for (char *p = data; *p; id++) {
        size_t len = strcspn(p, "\n");
        bool word = len == longest;
        for (size_t i = 0; word && i < len; i++) word = p[i] >= 'a' && p[i] <= 'z';
        if (word) {
            int32_t got[8];
            int64_t n_got = 0;
            struct lector_encode_info info = {-1, -1};
            struct lector_error err = {0};
            assert_int_equal(lector_tokenizer_encode(tok, p, len, 8, got, &n_got, &info, &err),
                             LECTOR_STATUS_OK);
            if (n_got != 3 || got[1] != id)
                fail_msg("%s: '%.*s' (%zu bytes, id %d) gave %lld ids, the second %d", name,
                         (int)len, p, len, id, (long long)n_got, n_got > 1 ? got[1] : -1);
            char longer[256];
            snprintf(longer, sizeof longer, "%.*ss", (int)len, p);
            assert_int_equal(lector_tokenizer_encode(tok, longer, len + 1, 8, got, &n_got,
                                                     &info, &err),
                             LECTOR_STATUS_OK);
            if (n_got < 4 || got[1] != id)
                fail_msg("%s: '%s' gave %lld ids, the second %d, not '%.*s' (%d) first", name,
                         longer, (long long)n_got, n_got > 1 ? got[1] : -1, (int)len, p, id);
            n_checked++;
        }
        p += len + (p[len] == '\n');
    }
    printf("%s: %d longest words (%zu bytes) whole\n", name, n_checked, longest);
    assert_true(n_checked > 0);
    free(data);
    lector_tokenizer_close(tok);
}

static void test_longest_words_whole(void **state) {
    (void)state;
    if (!test_shared_dir()) test_skip();
    check_longest_words_whole("bert-base-uncased");
    check_longest_words_whole("bert-base-cased");
}

static void test_parity_bert_base_uncased(void **state) {
    (void)state;
    check_vocab("bert-base-uncased");
}
static void test_parity_bert_base_cased(void **state) {
    (void)state;
    check_vocab("bert-base-cased");
}
static void test_parity_bert_base_multilingual_cased(void **state) {
    (void)state;
    check_vocab("bert-base-multilingual-cased");
}
static void test_parity_bert_base_chinese(void **state) {
    (void)state;
    check_vocab("bert-base-chinese");
}

// The tokenizer files of an encoder fixture, opened as a model directory: the text batch of
// golden.json (case 0) truncated to T tokens, [SEP] kept.
static void check_encoder_dir(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/encoders/%s", name);
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    enum lector_status st = lector_tokenizer_open(test_shared_path(rel), &tok, &err);
    if (st != LECTOR_STATUS_OK) fprintf(stderr, "open %s: %s\n", name, err.msg);
    assert_int_equal(st, LECTOR_STATUS_OK);

    snprintf(rel, sizeof rel, "fixtures/encoders/%s/golden.json", name);
    json_error_t je;
    json_t *golden = json_load_file(test_shared_path(rel), 0, &je);
    assert_non_null(golden);
    json_t *c = json_array_get(json_object_get(golden, "cases"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "name")), "text");
    int64_t T = json_integer_value(json_object_get(c, "T"));
    json_t *texts = json_object_get(c, "texts");
    json_t *tokens = json_object_get(c, "tokens");
    int n_same = 0, n_rows = (int)json_array_size(texts);
    int32_t *ids = calloc((size_t)T, sizeof *ids);
    for (int b = 0; b < n_rows; b++) {
        const char *text = json_string_value(json_array_get(texts, (size_t)b));
        json_t *want = json_array_get(tokens, (size_t)b);
        int64_t n_ids = 0;
        struct lector_encode_info info = {0, 0};
        st = lector_tokenizer_encode(tok, text, strlen(text), T, ids, &n_ids, &info, &err);
        assert_int_equal(st, LECTOR_STATUS_OK);
        bool same = n_ids == (int64_t)json_array_size(want);
        for (int64_t i = 0; same && i < n_ids; i++)
            same = strcmp(lector_tokenizer_token(tok, ids[i]),
                          json_string_value(json_array_get(want, (size_t)i))) == 0;
        // Only the long review reaches T tokens; it must say it was cut.
        if (same && info.truncated != (n_ids == T && b == n_rows - 1)) same = false;
        if (same) {
            n_same++;
        } else {
            fprintf(stderr, "  %s row %d differs (truncated=%d)\n", name, b, info.truncated);
            golden_print_ids("got", tok, ids, n_ids);
        }
    }
    printf("%s (encoder dir): %d/%d identical\n", name, n_same, n_rows);
    fflush(stdout);
    assert_int_equal(n_same, n_rows);
    free(ids);
    json_decref(golden);
    lector_tokenizer_close(tok);
}

static void test_parity_encoder_bert_tiny_uncased(void **state) {
    (void)state;
    check_encoder_dir("bert-tiny-uncased");
}
static void test_parity_encoder_bert_odd_cased(void **state) {
    (void)state;
    check_encoder_dir("bert-odd-cased");
}

int main(void) {
    if (!test_shared_dir()) {
        printf("skipped: shared/ not found\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_bert_base_uncased),
        cmocka_unit_test(test_parity_bert_base_cased),
        cmocka_unit_test(test_parity_bert_base_multilingual_cased),
        cmocka_unit_test(test_parity_bert_base_chinese),
        cmocka_unit_test(test_parity_encoder_bert_tiny_uncased),
        cmocka_unit_test(test_parity_encoder_bert_odd_cased),
        cmocka_unit_test(test_longest_words_whole),
    };
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
