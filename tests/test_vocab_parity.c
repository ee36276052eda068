// Parity of every tokenizer kind on the project's own vocab/ folder, with no shared data:
// the golden ids of tests/data/tokenizers/<name>.jsonl (made with Hugging Face tokenizers and
// SentencePiece, see that folder's README.md) for the four WordPiece vocabularies, RoBERTa's
// byte-level BPE and XLNet's SentencePiece model. Also checks that vocab/README.md lists
// every file of vocab/ with its byte size and SHA-256.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/base_impl.h"
#include "lector/tokenizer.h"
#include "testutil.h"
#include "tokgolden.h"

static const char *vocab_root(void) {
    const char *env = getenv("LECTOR_VOCAB_DIR");
    return env && *env ? env : LECTOR_SOURCE_DIR "/vocab";
}

// The golden file tests/data/tokenizers/<name>.jsonl.
static int run_golden(const char *name, const struct lector_tokenizer *tok, bool pieces, int *n_cases) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizers/%s.jsonl", LECTOR_TEST_DATA, name);
    return golden_run(path, name, tok, pieces, n_cases);
}

static void check_folder(const char *name) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", vocab_root(), name);
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    if (lector_tokenizer_open(dir, &tok, &err) != LECTOR_STATUS_OK) fail_msg("open %s: %s", dir, err.msg);
    int n_cases = 0;
    int n_same = run_golden(name, tok, false, &n_cases);
    printf("vocab/%s: %d/%d identical\n", name, n_same, n_cases);
    fflush(stdout);
    assert_true(n_cases >= 200);
    assert_int_equal(n_same, n_cases);
    lector_tokenizer_close(tok);
}

static void test_bert_base_uncased(void **state) {
    (void)state;
    check_folder("bert-base-uncased");
}
static void test_bert_base_cased(void **state) {
    (void)state;
    check_folder("bert-base-cased");
}
static void test_bert_base_multilingual_cased(void **state) {
    (void)state;
    check_folder("bert-base-multilingual-cased");
}
static void test_bert_base_chinese(void **state) {
    (void)state;
    check_folder("bert-base-chinese");
}
static void test_roberta_base(void **state) {
    (void)state;
    check_folder("roberta-base");
}

// The XLNet goldens are raw SentencePiece ids (no text preparation, no special tokens), so
// the model file is opened on its own, as the sentencepiece library does.
static void test_xlnet_base_cased(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/xlnet-base-cased/spiece.model", vocab_root());
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    if (lector_tokenizer_open_spm(path, LECTOR_SPM_FAMILY_AUTO, &tok, &err) != LECTOR_STATUS_OK)
        fail_msg("open %s: %s", path, err.msg);
    lector_tokenizer_set_split_specials(tok, 1);
    int n_cases = 0;
    int n_same = run_golden("xlnet-base-cased", tok, true, &n_cases);
    printf("vocab/xlnet-base-cased (pieces): %d/%d identical\n", n_same, n_cases);
    fflush(stdout);
    assert_true(n_cases >= 200);
    assert_int_equal(n_same, n_cases);
    lector_tokenizer_close(tok);
}

// The pieces of text as a string, joined by spaces.
static void pieces_of(const struct lector_tokenizer *tok, const char *text, char *out, size_t n) {
    int32_t *ids = NULL;
    int64_t n_ids = 0;
    struct lector_error err = {0};
    if (lector_tokenizer_encode_pieces(tok, text, strlen(text), &ids, &n_ids, &err) != LECTOR_STATUS_OK)
        fail_msg("encode '%s': %s", text, err.msg);
    size_t used = 0;
    out[0] = '\0';
    for (int64_t i = 0; i < n_ids && used < n; i++)
        used += (size_t)snprintf(out + used, n - used, "%s%s", i ? " " : "", lector_tokenizer_token(tok, ids[i]));
    lector_free(ids);
}

// The folder vocab/xlnet-base-cased holds spiece.model alone: Hugging Face's XLNetTokenizer
// prepares the text by default (keep_accents=False: accents dropped, `` and '' become ",
// runs of spaces one), so the folder gets the same preparation. transformers' XLNet test
// sentence "I was born in 92000, and this is falsé." then reads as "... false.".
static void test_xlnet_folder_prepares_text(void **state) {
    (void)state;
    char dir[4096], model[4096];
    snprintf(dir, sizeof dir, "%s/xlnet-base-cased", vocab_root());
    snprintf(model, sizeof model, "%s/xlnet-base-cased/spiece.model", vocab_root());
    struct lector_tokenizer *folder = NULL, *raw = NULL;
    struct lector_error err = {0};
    if (lector_tokenizer_open(dir, &folder, &err) != LECTOR_STATUS_OK) fail_msg("open %s: %s", dir, err.msg);
    if (lector_tokenizer_open_spm(model, LECTOR_SPM_FAMILY_AUTO, &raw, &err) != LECTOR_STATUS_OK)
        fail_msg("open %s: %s", model, err.msg);
    char got[1024], want[1024];
    pieces_of(folder, "I was born in 92000, and this is fals\xc3\xa9.", got, sizeof got);
    pieces_of(raw, "I was born in 92000, and this is false.", want, sizeof want);
    assert_string_equal(got, want);
    pieces_of(folder, "``quoted''   twice", got, sizeof got);
    pieces_of(raw, "\"quoted\" twice", want, sizeof want);
    assert_string_equal(got, want);
    // The raw model keeps the accent; the two tokenizers hash differently (cache keys).
    pieces_of(raw, "fals\xc3\xa9", got, sizeof got);
    pieces_of(raw, "false", want, sizeof want);
    assert_string_not_equal(got, want);
    assert_string_not_equal(lector_tokenizer_hash(folder), lector_tokenizer_hash(raw));
    // x <sep> <cls>
    int32_t ids[8];
    int64_t n = 0;
    assert_int_equal(lector_tokenizer_encode(folder, "Hello", 5, 8, ids, &n, NULL, &err), LECTOR_STATUS_OK);
    assert_true(n >= 3);
    assert_int_equal(ids[n - 2], lector_tokenizer_find(folder, "<sep>"));
    assert_int_equal(ids[n - 1], lector_tokenizer_find(folder, "<cls>"));
    lector_tokenizer_close(raw);
    lector_tokenizer_close(folder);
}

// ---------------------------------------------------------------------------------------------
// settings users set (each on the case of the project that has it)

// A folder with the given files (NULL-terminated name, content pairs); returns its path.
static char *folder_with(const char *const *files) {
    char *dir = test_mkdtemp();
    for (int i = 0; files[i]; i += 2) free(test_write_file(dir, files[i], files[i + 1], strlen(files[i + 1])));
    return dir;
}

static void expect_refused(const char *const *files, const char *name) {
    char *dir = folder_with(files);
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    enum lector_status st = lector_tokenizer_open(dir, &tok, &err);
    if (st != LECTOR_STATUS_UNSUPPORTED || !strstr(err.msg, name) || !strstr(err.msg, "so the ids would"))
        fail_msg("%s: status %s, message '%s'", name, lector_status_str(st), err.msg);
    lector_tokenizer_close(tok);
    test_rmtree(dir);
    free(dir);
}

// transformers' BERT tokenizer test vocabulary. With the basic tokenizer (the default),
// "unwanted running" is un ##want ##ed runn ##ing; BertTokenizer(do_basic_tokenize=False)
// gives [UNK] runn ##ing for "unwanted, running", which lector cannot do: refused by name.
static const char TOY_VOCAB[] = "[UNK]\n[CLS]\n[SEP]\nwant\n##want\n##ed\nwa\nun\nrunn\n##ing\n,\nlow\nlowest\n";

static void test_do_basic_tokenize_false_refused(void **state) {
    (void)state;
    const char *const plain[] = {"vocab.txt", TOY_VOCAB, NULL};
    char *dir = folder_with(plain);
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    if (lector_tokenizer_open(dir, &tok, &err) != LECTOR_STATUS_OK) fail_msg("open: %s", err.msg);
    char got[256];
    pieces_of(tok, "unwanted running", got, sizeof got);
    assert_string_equal(got, "un ##want ##ed runn ##ing");
    pieces_of(tok, "unwanted, running", got, sizeof got);
    assert_string_equal(got, "un ##want ##ed , runn ##ing");
    lector_tokenizer_close(tok);
    test_rmtree(dir);
    free(dir);
    const char *const off[] = {"vocab.txt", TOY_VOCAB, "tokenizer_config.json",
                               "{\"do_lower_case\": true, \"do_basic_tokenize\": false}", NULL};
    expect_refused(off, "do_basic_tokenize");
}

// tokenizer.json settings from huggingface/tokenizers' tests: BertNormalizer(clean_text=False),
// Unigram(byte_fallback=True), AddedToken(single_word=True).
static void test_tokenizer_json_settings_refused(void **state) {
    (void)state;
    const char *const clean[] = {
        "tokenizer.json",
        "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"vocab\": {\"[UNK]\": 0, "
        "\"[CLS]\": 1, \"[SEP]\": 2, \"a\": 3}}, \"normalizer\": {\"type\": \"BertNormalizer\", "
        "\"clean_text\": false, \"lowercase\": true}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}}",
        NULL};
    expect_refused(clean, "clean_text");
    const char *const fallback[] = {
        "tokenizer.json",
        "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"byte_fallback\": true, \"vocab\": "
        "[[\"<unk>\", 0.0], [\"<0x41>\", -1.0], [\"a\", -2.0]]}}",
        NULL};
    expect_refused(fallback, "byte_fallback");
    const char *const single[] = {
        "tokenizer.json",
        "{\"added_tokens\": [{\"id\": 3, \"content\": \"a\", \"single_word\": true, \"lstrip\": false, "
        "\"rstrip\": false, \"normalized\": false, \"special\": false}], \"model\": {\"type\": "
        "\"WordPiece\", \"unk_token\": \"[UNK]\", \"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1, \"[SEP]\": 2, "
        "\"a\": 3}}, \"normalizer\": null, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}}",
        NULL};
    expect_refused(single, "single_word");
}

// A vocab.json + merges.txt folder whose tokenizer_config.json names only unk_token (as
// transformers' RoBERTa and GPT-2 tests write it): RoBERTa's <s> and </s> stay.
static void test_bpe_config_with_unk_only(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    static const char *const names[] = {"vocab.json", "merges.txt"};
    for (int i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/roberta-base/%s", vocab_root(), names[i]);
        size_t n = 0;
        char *data = test_read_file(path, &n);
        assert_non_null(data);
        free(test_write_file(dir, names[i], data, n));
        free(data);
    }
    const char *cfg = "{\"unk_token\": \"<unk>\"}";
    free(test_write_file(dir, "tokenizer_config.json", cfg, strlen(cfg)));
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    if (lector_tokenizer_open(dir, &tok, &err) != LECTOR_STATUS_OK) fail_msg("open: %s", err.msg);
    assert_int_equal(lector_tokenizer_cls_id(tok), 0);
    assert_int_equal(lector_tokenizer_sep_id(tok), 2);
    assert_int_equal(lector_tokenizer_unk_id(tok), 3);
    int32_t ids[8];
    int64_t n = 0;
    assert_int_equal(lector_tokenizer_encode(tok, "Hello, world!", 13, 8, ids, &n, NULL, &err), LECTOR_STATUS_OK);
    const int32_t want[] = {0, 31414, 6, 232, 328, 2};  // roberta-base.jsonl, strings.json#0
    assert_int_equal(n, 6);
    assert_memory_equal(ids, want, sizeof want);
    lector_tokenizer_close(tok);
    test_rmtree(dir);
    free(dir);
}

// vocab/README.md names each file with its size and SHA-256 on one table row:
// | `name/file` | bytes | sha256 | ...
static void test_readme_checksums(void **state) {
    (void)state;
    static const char *const files[] = {
        "bert-base-uncased/vocab.txt",   "bert-base-cased/vocab.txt",
        "bert-base-multilingual-cased/vocab.txt", "bert-base-chinese/vocab.txt",
        "roberta-base/vocab.json",       "roberta-base/merges.txt",
        "xlnet-base-cased/spiece.model"};
    char path[4096];
    snprintf(path, sizeof path, "%s/README.md", vocab_root());
    size_t n = 0;
    char *readme = test_read_file(path, &n);
    if (!readme) fail_msg("cannot read %s", path);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", vocab_root(), files[i]);
        struct lector__sha256 s;
        lector__sha256_init(&s);
        assert_int_equal(lector__sha256_file(&s, path, NULL), LECTOR_STATUS_OK);
        uint8_t d[32];
        char hex[65];
        lector__sha256_final(&s, d);
        lector__sha256_hex(d, hex);
        size_t n_file = 0;
        free(test_read_file(path, &n_file));
        char key[256];
        snprintf(key, sizeof key, "| `%s` |", files[i]);
        const char *row = strstr(readme, key);
        if (!row) fail_msg("vocab/README.md has no row for %s", files[i]);
        const char *end = strchr(row, '\n');
        size_t row_len = end ? (size_t)(end - row) : strlen(row);
        char rowbuf[1024];
        snprintf(rowbuf, sizeof rowbuf, "%.*s", (int)row_len, row);
        if (!strstr(rowbuf, hex)) fail_msg("vocab/README.md: %s sha256 is %s, not listed", files[i], hex);
        // The size with thousands separators, as the table writes it.
        char size[32], grouped[48];
        snprintf(size, sizeof size, "%zu", n_file);
        size_t len = strlen(size), k = 0;
        for (size_t j = 0; j < len; j++) {
            if (j && (len - j) % 3 == 0) grouped[k++] = ',';
            grouped[k++] = size[j];
        }
        grouped[k] = '\0';
        if (!strstr(rowbuf, grouped)) fail_msg("vocab/README.md: %s is %s bytes, not listed", files[i], grouped);
    }
    free(readme);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bert_base_uncased),
        cmocka_unit_test(test_bert_base_cased),
        cmocka_unit_test(test_bert_base_multilingual_cased),
        cmocka_unit_test(test_bert_base_chinese),
        cmocka_unit_test(test_roberta_base),
        cmocka_unit_test(test_xlnet_base_cased),
        cmocka_unit_test(test_xlnet_folder_prepares_text),
        cmocka_unit_test(test_do_basic_tokenize_false_refused),
        cmocka_unit_test(test_tokenizer_json_settings_refused),
        cmocka_unit_test(test_bpe_config_with_unk_only),
        cmocka_unit_test(test_readme_checksums),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
