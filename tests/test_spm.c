// SentencePiece through lector/spm.h and lector_tokenizer: error paths on corrupt model files
// (no shared/ needed), then with shared/ the raw-SentencePiece goldens of xlnet-base-cased and
// the special tokens of each family.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lector/spm.h"
#include "lector/tokenizer.h"
#include "testutil.h"

// ---------------------------------------------------------------------------------------------
// corrupt models: an error, never a crash

static void expect_bad_model(const char *dir, const void *bytes, size_t n) {
    char *path = test_write_file(dir, "spiece.model", bytes, n);
    struct lector_spm *spm = (struct lector_spm *)1;
    struct lector_error err = {0};
    enum lector_status st = lector_spm_open(path, &spm, &err);
    assert_int_not_equal(st, LECTOR_STATUS_OK);
    assert_int_equal(err.code, st);
    assert_null(spm);
    assert_true(strlen(err.msg) > 0);
    st = lector_spm_open_memory(bytes, n, path, &spm, &err);
    assert_int_equal(st, LECTOR_STATUS_FORMAT);
    assert_null(spm);
    // Through the tokenizer: the directory's model is found and refused.
    struct lector_tokenizer *tok = (struct lector_tokenizer *)1;
    assert_int_equal(lector_tokenizer_open(dir, &tok, &err), LECTOR_STATUS_FORMAT);
    assert_null(tok);
    assert_non_null(strstr(err.msg, "spiece.model"));
    free(path);
}

static void test_spm_corrupt_models(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    expect_bad_model(dir, "", 0);
    expect_bad_model(dir, "not a model at all", 18);
    unsigned char junk[512];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1664525u + 1013904223u;
        junk[i] = (unsigned char)(x >> 24);
    }
    expect_bad_model(dir, junk, sizeof junk);
    // A valid protobuf field header that claims more bytes than there are.
    const unsigned char truncated[] = {0x0a, 0xff, 0x01, 0x0a, 0x03, 'a', 'b'};
    expect_bad_model(dir, truncated, sizeof truncated);
    test_rmtree(dir);
    free(dir);
}

static void test_spm_missing_file_and_null_args(void **state) {
    (void)state;
    struct lector_spm *spm = NULL;
    struct lector_error err = {0};
    assert_int_equal(lector_spm_open("/nonexistent/spiece.model", &spm, &err), LECTOR_STATUS_NOT_FOUND);
    assert_null(spm);
    assert_int_equal(lector_spm_open(NULL, &spm, &err), LECTOR_STATUS_INVALID_ARG);
    assert_int_equal(lector_spm_open_memory(NULL, 4, "x", &spm, &err), LECTOR_STATUS_INVALID_ARG);
    int32_t *ids = NULL;
    int64_t n = 0;
    assert_int_equal(lector_spm_encode(NULL, "a", 1, &ids, &n, &err), LECTOR_STATUS_INVALID_ARG);
    assert_int_equal(lector_spm_n_pieces(NULL), 0);
    assert_null(lector_spm_piece(NULL, 0));
    assert_int_equal(lector_spm_find(NULL, "a", 1), -1);
    assert_int_equal(lector_spm_piece_type(NULL, 0), LECTOR_SPM_PIECE_INVALID);
    assert_int_equal(lector_spm_unk_id(NULL), -1);
    lector_spm_close(NULL);
    struct lector_tokenizer *tok = NULL;
    assert_int_equal(lector_tokenizer_open_spm("/nonexistent/spiece.model", LECTOR_SPM_FAMILY_AUTO, &tok, &err),
                     LECTOR_STATUS_IO);
}

// ---------------------------------------------------------------------------------------------
// the real xlnet-base-cased model (shared/)

static const char *xlnet_model(void) {
    static char path[4096];
    const char *p = test_shared_path("vocab/xlnet-base-cased/spiece.model");
    if (!p) return NULL;
    snprintf(path, sizeof path, "%s", p);
    return path;
}

// Run the 250 raw cases; encode(text) must equal the golden ids. via_tokenizer: through
// lector_tokenizer_encode_pieces (special-token text left as text) instead of lector_spm.
static int run_xlnet_cases(const struct lector_spm *spm, const struct lector_tokenizer *tok,
                           int *n_cases) {
    size_t n = 0;
    char *data = test_read_file(test_shared_path("fixtures/tokenizers/xlnet-base-cased/cases.jsonl"), &n);
    assert_non_null(data);
    int n_same = 0, n_bad = 0;
    *n_cases = 0;
    for (char *line = data; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        json_error_t je;
        json_t *c = json_loads(line, 0, &je);
        assert_non_null(c);
        const char *text = json_string_value(json_object_get(c, "text"));
        json_t *jids = json_object_get(c, "ids");
        size_t n_want = json_array_size(jids);
        int32_t *ids = NULL;
        int64_t n_ids = 0;
        struct lector_error err = {0};
        enum lector_status st = spm ? lector_spm_encode(spm, text, strlen(text), &ids, &n_ids, &err)
                                    : lector_tokenizer_encode_pieces(tok, text, strlen(text), &ids, &n_ids, &err);
        bool same = st == LECTOR_STATUS_OK && n_ids == (int64_t)n_want;
        for (size_t i = 0; same && i < n_want; i++)
            same = ids[i] == (int32_t)json_integer_value(json_array_get(jids, i));
        if (same) {
            n_same++;
        } else if (n_bad++ < 5) {
            fprintf(stderr, "  xlnet %s: status %s (%s), %lld ids, want %zu\n",
                    json_string_value(json_object_get(c, "src")), lector_status_str(st), err.msg,
                    (long long)n_ids, n_want);
        }
        lector_free(ids);
        (*n_cases)++;
        json_decref(c);
        line = nl ? nl + 1 : NULL;
    }
    free(data);
    return n_same;
}

static void test_parity_xlnet_raw_spm(void **state) {
    (void)state;
    if (!test_shared_dir()) test_skip();
    struct lector_spm *spm = NULL;
    struct lector_error err = {0};
    if (lector_spm_open(xlnet_model(), &spm, &err) != LECTOR_STATUS_OK) fail_msg("open: %s", err.msg);
    assert_int_equal(lector_spm_n_pieces(spm), 32000);
    assert_int_equal(lector_spm_unk_id(spm), 0);
    // The control pieces named <s>, </s> and <pad> (XLNet's ids 1, 2 and 5).
    assert_int_equal(lector_spm_bos_id(spm), 1);
    assert_int_equal(lector_spm_eos_id(spm), 2);
    assert_int_equal(lector_spm_pad_id(spm), 5);
    assert_string_equal(lector_spm_piece(spm, 1), "<s>");
    assert_string_equal(lector_spm_piece(spm, 2), "</s>");
    assert_string_equal(lector_spm_piece(spm, 5), "<pad>");
    assert_string_equal(lector_spm_piece(spm, 17), "\xe2\x96\x81");
    assert_int_equal(lector_spm_find(spm, "\xe2\x96\x81world", 8), 185);
    assert_int_equal(lector_spm_find(spm, "no such piece", 13), -1);
    assert_int_equal(lector_spm_piece_type(spm, 0), LECTOR_SPM_PIECE_UNKNOWN);
    assert_int_equal(lector_spm_piece_type(spm, 3), LECTOR_SPM_PIECE_CONTROL);
    assert_int_equal(lector_spm_piece_type(spm, 185), LECTOR_SPM_PIECE_NORMAL);
    assert_null(lector_spm_piece(spm, 32000));
    int n_cases = 0;
    int n_same = run_xlnet_cases(spm, NULL, &n_cases);
    printf("xlnet-base-cased (lector_spm_encode): %d/%d identical\n", n_same, n_cases);
    assert_int_equal(n_cases, 250);
    assert_int_equal(n_same, n_cases);
    lector_spm_close(spm);
}

static void test_parity_xlnet_tokenizer_pieces(void **state) {
    (void)state;
    if (!test_shared_dir()) test_skip();
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    if (lector_tokenizer_open_spm(xlnet_model(), LECTOR_SPM_FAMILY_AUTO, &tok, &err) != LECTOR_STATUS_OK)
        fail_msg("open: %s", err.msg);
    assert_int_equal(lector_tokenizer_kind(tok), LECTOR_TOKENIZER_SENTENCEPIECE);
    // The goldens are raw SentencePiece: "<s>" in the text is text there.
    lector_tokenizer_set_split_specials(tok, 1);
    int n_cases = 0;
    int n_same = run_xlnet_cases(NULL, tok, &n_cases);
    printf("xlnet-base-cased (lector_tokenizer_encode_pieces): %d/%d identical\n", n_same, n_cases);
    assert_int_equal(n_cases, 250);
    assert_int_equal(n_same, n_cases);
    lector_tokenizer_close(tok);
}

// XLNet: x <sep> <cls>, truncation keeps both; special text in the input is matched.
static void test_spm_xlnet_specials(void **state) {
    (void)state;
    if (!test_shared_dir()) test_skip();
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    char *dir = test_mkdtemp();
    size_t n = 0;
    char *model = test_read_file(xlnet_model(), &n);
    free(test_write_file(dir, "spiece.model", model, n));
    const char *cfg = "{\"tokenizer_class\": \"XLNetTokenizer\"}";
    free(test_write_file(dir, "tokenizer_config.json", cfg, strlen(cfg)));
    if (lector_tokenizer_open(dir, &tok, &err) != LECTOR_STATUS_OK) fail_msg("open: %s", err.msg);
    int32_t sep = lector_tokenizer_find(tok, "<sep>"), cls = lector_tokenizer_find(tok, "<cls>");
    assert_int_equal(lector_tokenizer_sep_id(tok), sep);
    assert_int_equal(lector_tokenizer_cls_id(tok), cls);
    assert_int_equal(lector_tokenizer_pad_id(tok), 5);
    assert_int_equal(lector_tokenizer_unk_id(tok), 0);
    int32_t ids[8];
    int64_t n_ids = 0;
    struct lector_encode_info info = {0, 0};
    assert_int_equal(lector_tokenizer_encode(tok, "Hello, world!", 13, 8, ids, &n_ids, &info, &err),
                     LECTOR_STATUS_OK);
    const int32_t want[] = {17, 11368, 19, 185, 136, 4, 3};
    assert_int_equal(n_ids, 7);
    assert_memory_equal(ids, want, sizeof want);
    assert_int_equal(lector_tokenizer_encode(tok, "Hello, world!", 13, 4, ids, &n_ids, &info, &err),
                     LECTOR_STATUS_OK);
    assert_int_equal(n_ids, 4);
    assert_int_equal(info.truncated, 1);
    assert_int_equal(ids[2], sep);
    assert_int_equal(ids[3], cls);
    int32_t *p = NULL;
    assert_int_equal(lector_tokenizer_encode_pieces(tok, "a<sep>b", 7, &p, &n_ids, &err), LECTOR_STATUS_OK);
    bool has_sep = false;
    for (int64_t i = 0; i < n_ids; i++) has_sep |= p[i] == sep;
    assert_true(has_sep);
    lector_free(p);
    lector_tokenizer_close(tok);

    // ALBERT's specials are [CLS]/[SEP]: this model has none, which is an error, not a guess.
    assert_int_equal(lector_tokenizer_open_spm(xlnet_model(), LECTOR_SPM_FAMILY_ALBERT, &tok, &err),
                     LECTOR_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "[CLS]"));
    free(model);
    test_rmtree(dir);
    free(dir);
}

// XLM-R: fairseq ids (<s>=0 <pad>=1 </s>=2 <unk>=3, model ids + 1, <mask> last), found by
// the file name sentencepiece.bpe.model.
static void test_spm_xlmr_offset(void **state) {
    (void)state;
    if (!test_shared_dir()) test_skip();
    char *dir = test_mkdtemp();
    size_t n = 0;
    char *model = test_read_file(xlnet_model(), &n);
    free(test_write_file(dir, "sentencepiece.bpe.model", model, n));
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    if (lector_tokenizer_open(dir, &tok, &err) != LECTOR_STATUS_OK) fail_msg("open: %s", err.msg);
    assert_int_equal(lector_tokenizer_n_vocab(tok), 32002);
    assert_int_equal(lector_tokenizer_cls_id(tok), 0);
    assert_int_equal(lector_tokenizer_pad_id(tok), 1);
    assert_int_equal(lector_tokenizer_sep_id(tok), 2);
    assert_int_equal(lector_tokenizer_unk_id(tok), 3);
    assert_string_equal(lector_tokenizer_token(tok, 32001), "<mask>");
    assert_string_equal(lector_tokenizer_token(tok, 186), "\xe2\x96\x81world");
    int32_t ids[16];
    int64_t n_ids = 0;
    assert_int_equal(lector_tokenizer_encode(tok, "Hello, world!", 13, 16, ids, &n_ids, NULL, &err),
                     LECTOR_STATUS_OK);
    const int32_t want[] = {0, 18, 11369, 20, 186, 137, 2};
    assert_int_equal(n_ids, 7);
    assert_memory_equal(ids, want, sizeof want);
    // The model's own <unk> (id 0) becomes fairseq's 3: a character no piece covers.
    assert_int_equal(lector_tokenizer_encode(tok, "\xe2\x98\x83", 3, 16, ids, &n_ids, NULL, &err),
                     LECTOR_STATUS_OK);
    bool has_unk = false;
    for (int64_t i = 1; i + 1 < n_ids; i++) {
        assert_true(ids[i] != 0 && ids[i] != 1);
        has_unk |= ids[i] == 3;
    }
    assert_true(has_unk);
    // <mask> in the text, with the whitespace before it.
    assert_int_equal(lector_tokenizer_encode(tok, "a <mask>", 8, 16, ids, &n_ids, NULL, &err), LECTOR_STATUS_OK);
    assert_int_equal(ids[n_ids - 2], 32001);
    lector_tokenizer_close(tok);
    free(model);
    test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spm_corrupt_models),
        cmocka_unit_test(test_spm_missing_file_and_null_args),
        cmocka_unit_test(test_parity_xlnet_raw_spm),
        cmocka_unit_test(test_parity_xlnet_tokenizer_pieces),
        cmocka_unit_test(test_spm_xlnet_specials),
        cmocka_unit_test(test_spm_xlmr_offset),
    };
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
