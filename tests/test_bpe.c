// Byte-level BPE: unit tests on a small hand-made byte-level vocabulary (no shared/ needed),
// then golden parity with Hugging Face tokenizers on RoBERTa (vocab.json + merges.txt, its
// tokenizer.json, and the roberta-tiny encoder directory) when shared/ is present.
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

// ---------------------------------------------------------------------------------------------
// a small byte-level vocabulary

// GPT-2's stand-in character of a byte, written out from its definition for the test.
static unsigned stand_in(unsigned b) {
    bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    if (printable) return b;
    unsigned n = 0;
    for (unsigned c = 0; c < b; c++)
        if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174)) n++;
    return 256 + n;
}

static void put_utf8(char **p, unsigned cp) {
    if (cp < 0x80) {
        *(*p)++ = (char)cp;
    } else {
        *(*p)++ = (char)(0xC0 | (cp >> 6));
        *(*p)++ = (char)(0x80 | (cp & 0x3F));
    }
}

// Byte-level string of s (each byte's stand-in), into out.
static void byte_level(const char *s, char *out) {
    char *p = out;
    for (; *s; s++) put_utf8(&p, stand_in((unsigned char)*s));
    *p = '\0';
}

// Merges, best first, written as plain text ("Ġ" is written as a space).
static const char *const MERGES[][2] = {
    {"a", "a"}, {"aa", "aa"}, {" ", "t"}, {"h", "e"}, {" t", "he"}, {"l", "l"}, {"o", "n"},
    {"'", "s"}, {"d", "on"}, {"'", "t"}, {" ", "w"}, {" w", "on"}, {"1", "2"}, {" ", "!"},
    {"x", "y"}, {"w", "x"}, // ranks 14 and 15: in "wxy" the right pair, of lower rank, goes first
};
#define N_MERGES ((int)(sizeof MERGES / sizeof MERGES[0]))

struct fixture {
    char *dir;
    char *vocab_path, *merges_path;
};

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = test_mkdtemp();
    // vocab.json: <s> <pad> </s> <unk>, the 256 byte stand-ins, every merge result, <mask>.
    json_t *v = json_object();
    const char *specials[] = {"<s>", "<pad>", "</s>", "<unk>"};
    int id = 0;
    for (int k = 0; k < 4; k++) json_object_set_new(v, specials[k], json_integer(id++));
    for (unsigned b = 0; b < 256; b++) {
        char s[8], *p = s;
        put_utf8(&p, stand_in(b));
        *p = '\0';
        json_object_set_new(v, s, json_integer(id++));
    }
    char *merges = calloc(1, 4096), *mp = merges;
    mp += sprintf(mp, "#version: 0.2\n");
    for (int k = 0; k < N_MERGES; k++) {
        char a[32], b[32], ab[64], joined[64];
        byte_level(MERGES[k][0], a);
        byte_level(MERGES[k][1], b);
        snprintf(joined, sizeof joined, "%s%s", MERGES[k][0], MERGES[k][1]);
        byte_level(joined, ab);
        if (!json_object_get(v, ab)) json_object_set_new(v, ab, json_integer(id++));
        mp += sprintf(mp, "%s %s\n", a, b);
    }
    json_object_set_new(v, "<mask>", json_integer(id++));
    char *vj = json_dumps(v, JSON_COMPACT);
    f->vocab_path = test_write_file(f->dir, "vocab.json", vj, strlen(vj));
    f->merges_path = test_write_file(f->dir, "merges.txt", merges, strlen(merges));
    free(vj);
    free(merges);
    json_decref(v);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    test_rmtree(f->dir);
    free(f->dir);
    free(f->vocab_path);
    free(f->merges_path);
    free(f);
    return 0;
}

static struct lector_tokenizer *open_tok(void **state, int prefix_space) {
    struct fixture *f = *state;
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    if (lector_tokenizer_open_bpe(f->vocab_path, f->merges_path, prefix_space, &tok, &err) !=
        LECTOR_STATUS_OK)
        fail_msg("open: %s", err.msg);
    return tok;
}

// Compare the pieces of text with the expected pieces, given in plain text (the test turns
// them into byte-level tokens).
static void expect_pieces(const struct lector_tokenizer *tok, const char *text, size_t len,
                          const char *const *want) {
    int32_t *ids = NULL;
    int64_t n = 0;
    struct lector_error err = {0};
    if (lector_tokenizer_encode_pieces(tok, text, len, &ids, &n, &err) != LECTOR_STATUS_OK)
        fail_msg("encode \"%s\": %s", text, err.msg);
    int64_t n_want = 0;
    while (want[n_want]) n_want++;
    bool same = n == n_want;
    for (int64_t i = 0; same && i < n; i++) {
        char bl[256];
        if (want[i][0] == '<') snprintf(bl, sizeof bl, "%s", want[i]);
        else byte_level(want[i], bl);
        same = strcmp(lector_tokenizer_token(tok, ids[i]), bl) == 0;
    }
    if (!same) {
        fprintf(stderr, "text \"%s\": want", text);
        for (int64_t i = 0; i < n_want; i++) fprintf(stderr, " [%s]", want[i]);
        fprintf(stderr, "\n  got");
        for (int64_t i = 0; i < n; i++) fprintf(stderr, " [%s]", lector_tokenizer_token(tok, ids[i]));
        fprintf(stderr, "\n");
    }
    lector_free(ids);
    assert_true(same);
}
#define EXPECT(tok, text, ...)                                   \
    do {                                                         \
        const char *const want_[] = {__VA_ARGS__, NULL};         \
        expect_pieces(tok, text, strlen(text), want_);           \
    } while (0)

// ---------------------------------------------------------------------------------------------
// unit tests

static void test_bpe_pretokenize_gpt2_pattern(void **state) {
    struct lector_tokenizer *tok = open_tok(state, 0);
    assert_int_equal(lector_tokenizer_kind(tok), LECTOR_TOKENIZER_BPE);
    // Contractions split off; a space joins the following letters.
    EXPECT(tok, "don't", "don", "'t");
    EXPECT(tok, "the's", "t", "he", "'s");
    EXPECT(tok, " the won", " the", " won");
    // Whitespace before a word: all but the last character stand alone.
    EXPECT(tok, "a   the", "a", " ", " ", " the");
    EXPECT(tok, "a\t\nthe", "a", "\t", "\n", "t", "he");
    EXPECT(tok, "end   ", "e", "n", "d", " ", " ", " ");
    // Numbers and symbols are runs of their own, each with an optional leading space.
    EXPECT(tok, "x12 !!", "x", "12", " !", "!");
    EXPECT(tok, "a1b", "a", "1", "b");
    // Non-ASCII letters are letters (é is two bytes, each its own symbol).
    EXPECT(tok, " \xc3\xa9t\xc3\xa9", " ", "\xc3", "\xa9", "t", "\xc3", "\xa9");
    lector_tokenizer_close(tok);
}

static void test_bpe_merge_order(void **state) {
    struct lector_tokenizer *tok = open_tok(state, 0);
    // Lowest rank first, leftmost first among equal ranks.
    EXPECT(tok, "aaa", "aa", "a");
    EXPECT(tok, "aaaaa", "aaaa", "a");
    // Rank decides before position: "x y" (rank 14) before "w x" (rank 15).
    EXPECT(tok, "wxy", "w", "xy");
    // Long words take the heap path; the result must be the same.
    char big[302];
    memset(big, 'a', 301);
    big[301] = '\0';
    int32_t *ids = NULL;
    int64_t n = 0;
    struct lector_error err = {0};
    assert_int_equal(lector_tokenizer_encode_pieces(tok, big, 301, &ids, &n, &err), LECTOR_STATUS_OK);
    assert_int_equal(n, 76);
    for (int64_t i = 0; i < 75; i++) assert_string_equal(lector_tokenizer_token(tok, ids[i]), "aaaa");
    assert_string_equal(lector_tokenizer_token(tok, ids[75]), "a");
    lector_free(ids);
    lector_tokenizer_close(tok);
}

static void test_bpe_prefix_space_and_specials(void **state) {
    struct lector_tokenizer *tok = open_tok(state, 1);
    EXPECT(tok, "the", " the");
    EXPECT(tok, " the", " the");
    lector_tokenizer_close(tok);
    tok = open_tok(state, 0);
    EXPECT(tok, "the", "t", "he");
    // Specials in the text; <mask> swallows the whitespace before it, not after.
    EXPECT(tok, "<s> the</s>", "<s>", " the", "</s>");
    EXPECT(tok, "won  <mask> the", "w", "on", "<mask>", " the");
    lector_tokenizer_set_split_specials(tok, 1);
    EXPECT(tok, "<s>", "<", "s", ">");
    lector_tokenizer_close(tok);
}

static void test_bpe_encode_specials_and_truncation(void **state) {
    struct lector_tokenizer *tok = open_tok(state, 0);
    int32_t s = lector_tokenizer_find(tok, "<s>"), e = lector_tokenizer_find(tok, "</s>");
    assert_int_equal(lector_tokenizer_cls_id(tok), s);
    assert_int_equal(lector_tokenizer_sep_id(tok), e);
    assert_int_equal(lector_tokenizer_pad_id(tok), lector_tokenizer_find(tok, "<pad>"));
    assert_int_equal(lector_tokenizer_unk_id(tok), lector_tokenizer_find(tok, "<unk>"));
    assert_int_equal(lector_tokenizer_n_added(tok), 2);
    int32_t ids[4];
    int64_t n = 0;
    struct lector_encode_info info = {0, 0};
    struct lector_error err = {0};
    assert_int_equal(lector_tokenizer_encode(tok, "the the the", 11, 4, ids, &n, &info, &err),
                     LECTOR_STATUS_OK);
    assert_int_equal(n, 4);
    assert_int_equal(info.truncated, 1);
    assert_int_equal(ids[0], s);
    assert_int_equal(ids[3], e);
    assert_int_equal(lector_tokenizer_encode(tok, "", 0, 2, ids, &n, &info, &err), LECTOR_STATUS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(info.truncated, 0);
    assert_int_equal(lector_tokenizer_encode(tok, "x", 1, 1, ids, &n, NULL, &err),
                     LECTOR_STATUS_INVALID_ARG);
    lector_tokenizer_close(tok);
}

static void test_bpe_invalid_utf8_error_and_replace(void **state) {
    struct lector_tokenizer *tok = open_tok(state, 0);
    int32_t *ids = NULL;
    int64_t n = 0;
    struct lector_error err = {0};
    assert_int_equal(lector_tokenizer_encode_pieces(tok, "ab\xe4\xb8" "c", 5, &ids, &n, &err),
                     LECTOR_STATUS_INVALID_UTF8);
    assert_int_equal(err.offset, 2);
    assert_non_null(strstr(err.msg, "byte offset 2"));
    lector_tokenizer_set_invalid_utf8(tok, LECTOR_UTF8_REPLACE);
    // One U+FFFD per maximal invalid subsequence: E4 B8 is one, FF another.
    int32_t out[32];
    struct lector_encode_info info;
    assert_int_equal(lector_tokenizer_encode(tok, "ab\xe4\xb8" "c\xff", 6, 32, out, &n, &info, &err),
                     LECTOR_STATUS_OK);
    assert_int_equal(info.n_replaced, 2);
    EXPECT(tok, "a\xe4\xb8", "a", "\xef", "\xbf", "\xbd");
    lector_tokenizer_close(tok);
}

static void test_bpe_bad_merges(void **state) {
    struct fixture *f = *state;
    char *dir = test_mkdtemp();
    size_t n = 0;
    char *vocab = test_read_file(f->vocab_path, &n);
    char *vp = test_write_file(dir, "vocab.json", vocab, n);
    const char *bad[] = {"#version: 0.2\na a\nq z\n", "a\n", "a b c\n"};
    const int line[] = {3, 1, 1};
    for (int k = 0; k < 3; k++) {
        char *mp = test_write_file(dir, "merges.txt", bad[k], strlen(bad[k]));
        struct lector_tokenizer *tok = NULL;
        struct lector_error err = {0};
        assert_int_equal(lector_tokenizer_open(dir, &tok, &err), LECTOR_STATUS_FORMAT);
        assert_null(tok);
        assert_int_equal(err.line, line[k]);
        free(mp);
    }
    // vocab.json that is not an object of ids.
    free(test_write_file(dir, "vocab.json", "[1, 2]", 6));
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    assert_int_equal(lector_tokenizer_open(dir, &tok, &err), LECTOR_STATUS_FORMAT);
    free(vp);
    free(vocab);
    test_rmtree(dir);
    free(dir);
}

// tokenizer.json with a byte-level BPE model, built from the fixture's files.
static void test_bpe_tokenizer_json(void **state) {
    struct fixture *f = *state;
    size_t n = 0;
    char *vocab = test_read_file(f->vocab_path, &n);
    char *merges = test_read_file(f->merges_path, &n);
    json_error_t je;
    json_t *v = json_loads(vocab, 0, &je);
    json_t *m = json_array();
    for (char *line = strchr(merges, '\n') + 1; *line;) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        json_array_append_new(m, json_string(line));
        line = nl + 1;
    }
    json_t *root = json_pack(
        "{s:[{s:i,s:s,s:b,s:b},{s:i,s:s,s:b,s:b}],s:n,s:{s:s,s:b,s:b},s:{s:s,s:[s,i],s:[s,i]},"
        "s:{s:s,s:o,s:o}}",
        "added_tokens", "id", 0, "content", "<s>", "normalized", 1, "lstrip", 0, "id",
        (int)json_integer_value(json_object_get(v, "<mask>")), "content", "<mask>", "normalized", 0,
        "lstrip", 1, "normalizer", "pre_tokenizer", "type", "ByteLevel", "add_prefix_space", 0,
        "use_regex", 1, "post_processor", "type", "RobertaProcessing", "sep", "</s>", 2, "cls", "<s>",
        0, "model", "type", "BPE", "vocab", v, "merges", m);
    assert_non_null(root);
    char *text = json_dumps(root, 0);
    char *dir = test_mkdtemp();
    free(test_write_file(dir, "tokenizer.json", text, strlen(text)));
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    if (lector_tokenizer_open(dir, &tok, &err) != LECTOR_STATUS_OK) fail_msg("open: %s", err.msg);
    EXPECT(tok, "don't  the <mask>", "don", "'t", " ", " the", "<mask>");
    int32_t ids[8];
    int64_t n_ids = 0;
    assert_int_equal(lector_tokenizer_encode(tok, "aa", 2, 8, ids, &n_ids, NULL, &err), LECTOR_STATUS_OK);
    assert_int_equal(n_ids, 3);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[2], 2);
    lector_tokenizer_close(tok);
    test_rmtree(dir);
    free(dir);
    free(text);
    json_decref(root);
    free(merges);
    free(vocab);
}

// ---------------------------------------------------------------------------------------------
// parity with Hugging Face (shared/)

// Every case of fixtures/tokenizers/roberta-base/cases.jsonl through encode; returns the
// number identical.
static int run_cases(const struct lector_tokenizer *tok, int *n_cases) {
    return golden_run(test_shared_path("fixtures/tokenizers/roberta-base/cases.jsonl"), "roberta-base", tok,
                      false, n_cases);
}

static void check_parity(struct lector_tokenizer *tok, const char *label) {
    int n_cases = 0;
    int n_same = run_cases(tok, &n_cases);
    printf("roberta-base (%s): %d/%d identical\n", label, n_same, n_cases);
    fflush(stdout);
    assert_int_equal(n_cases, 250);
    assert_int_equal(n_same, n_cases);
}

static void test_parity_roberta_vocab_merges(void **state) {
    (void)state;
    if (!test_shared_dir()) test_skip();
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    char vocab[4096];
    snprintf(vocab, sizeof vocab, "%s", test_shared_path("vocab/roberta-base/vocab.json"));
    const char *merges = test_shared_path("vocab/roberta-base/merges.txt");
    if (lector_tokenizer_open_bpe(vocab, merges, 0, &tok, &err) != LECTOR_STATUS_OK)
        fail_msg("open: %s", err.msg);
    assert_int_equal(lector_tokenizer_cls_id(tok), 0);
    assert_int_equal(lector_tokenizer_pad_id(tok), 1);
    assert_int_equal(lector_tokenizer_sep_id(tok), 2);
    assert_int_equal(lector_tokenizer_unk_id(tok), 3);
    check_parity(tok, "vocab.json + merges.txt");
    lector_tokenizer_close(tok);
}

static void test_parity_roberta_tokenizer_json(void **state) {
    (void)state;
    if (!test_shared_dir()) test_skip();
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    if (lector_tokenizer_open_path(test_shared_path("fixtures/tokenizers/roberta-base/tokenizer.json"),
                                   &tok, &err) != LECTOR_STATUS_OK)
        fail_msg("open: %s", err.msg);
    check_parity(tok, "tokenizer.json");
    lector_tokenizer_close(tok);
}

// The roberta-tiny encoder directory: golden.json's text batch (case 0), truncated to T with
// </s> kept.
static void test_parity_roberta_tiny_encoder_dir(void **state) {
    (void)state;
    if (!test_shared_dir()) test_skip();
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_shared_path("fixtures/encoders/roberta-tiny"));
    if (lector_tokenizer_open(dir, &tok, &err) != LECTOR_STATUS_OK) fail_msg("open: %s", err.msg);
    json_error_t je;
    json_t *golden = json_load_file(test_shared_path("fixtures/encoders/roberta-tiny/golden.json"), 0, &je);
    assert_non_null(golden);
    json_t *c = json_array_get(json_object_get(golden, "cases"), 0);
    int64_t T = json_integer_value(json_object_get(c, "T"));
    json_t *texts = json_object_get(c, "texts"), *tokens = json_object_get(c, "tokens");
    int n_rows = (int)json_array_size(texts), n_same = 0;
    int32_t *ids = calloc((size_t)T, sizeof *ids);
    for (int b = 0; b < n_rows; b++) {
        const char *text = json_string_value(json_array_get(texts, (size_t)b));
        json_t *want = json_array_get(tokens, (size_t)b);
        int64_t n_ids = 0;
        assert_int_equal(lector_tokenizer_encode(tok, text, strlen(text), T, ids, &n_ids, NULL, &err),
                         LECTOR_STATUS_OK);
        bool same = n_ids == (int64_t)json_array_size(want);
        for (int64_t i = 0; same && i < n_ids; i++)
            same = strcmp(lector_tokenizer_token(tok, ids[i]),
                          json_string_value(json_array_get(want, (size_t)i))) == 0;
        if (same) n_same++;
        else golden_print_ids("got", tok, ids, n_ids);
    }
    printf("roberta-tiny (encoder dir): %d/%d identical\n", n_same, n_rows);
    assert_int_equal(n_same, n_rows);
    free(ids);
    json_decref(golden);
    lector_tokenizer_close(tok);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bpe_pretokenize_gpt2_pattern),
        cmocka_unit_test(test_bpe_merge_order),
        cmocka_unit_test(test_bpe_prefix_space_and_specials),
        cmocka_unit_test(test_bpe_encode_specials_and_truncation),
        cmocka_unit_test(test_bpe_invalid_utf8_error_and_replace),
        cmocka_unit_test(test_bpe_bad_merges),
        cmocka_unit_test(test_bpe_tokenizer_json),
        cmocka_unit_test(test_parity_roberta_vocab_merges),
        cmocka_unit_test(test_parity_roberta_tokenizer_json),
        cmocka_unit_test(test_parity_roberta_tiny_encoder_dir),
    };
    return test_status(cmocka_run_group_tests(tests, setup, teardown));
}
