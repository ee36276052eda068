// SentencePiece folders as the Hub ships them: the text preparation of Hugging Face's slow
// AlbertTokenizer / XLNetTokenizer (remove_space, `` and '' -> ", keep_accents, do_lower_case),
// the fallback from a tokenizer.json lector cannot run ("Precompiled" normaliser) to the
// SentencePiece model beside it, tokenizer_config.json's special-token names, and CamemBERT's
// fairseq ids. Expected strings follow Python's semantics (str.split, unicodedata.normalize
// NFKD + unicodedata.combining, str.lower). Tests that need a real model use shared/'s
// xlnet-base-cased spiece.model and are skipped without shared/.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lector/spm.h"
#include "lector/tokenizer.h"
#include "testutil.h"
#include "text/text_impl.h"

// ---------------------------------------------------------------------------------------------
// the preparation itself (no model needed)

static void expect_prep(bool remove_space, bool keep_accents, bool lowercase, const char *in,
                        const char *want) {
    struct lector__spm_prep p = {.on = true, .remove_space = remove_space,
                                 .keep_accents = keep_accents, .lowercase = lowercase};
    char *out = NULL;
    size_t n = 0;
    struct lector_error err = {0};
    assert_int_equal(lector__spm_prep_run(&p, in, strlen(in), &out, &n, &err), LECTOR_STATUS_OK);
    assert_non_null(out);
    if (n != strlen(want) || memcmp(out, want, n) != 0)
        fail_msg("prep(%d%d%d) of \"%s\": got \"%.*s\", want \"%s\"", remove_space, keep_accents,
                 lowercase, in, (int)n, out, want);
    lector_free(out);
}

// ALBERT's defaults: remove_space, no accents, lowercase.
static void test_prep_albert_defaults(void **state) {
    (void)state;
    expect_prep(true, false, true, "\xc3\x80LB\xc3\x89RT  is ``great''", "albert is \"great\"");
    expect_prep(true, false, true, "\t  Hello\xc2\xa0\xe3\x80\x80World \n", "hello world");
    expect_prep(true, false, true, "", "");
    expect_prep(true, false, true, " \t\n\xe2\x80\x83 ", "");
    // U+FB01 (fi ligature) is a compatibility character: NFKD gives "fi".
    expect_prep(true, false, true, "\xef\xac\x81ne", "fine");
    // U+0130 decomposes to I + U+0307, whose mark is dropped before lowercasing.
    expect_prep(true, false, true, "\xc4\xb0stanbul", "istanbul");
    // Final sigma: ΟΔΟΣ ΣΑ -> οδος σα (ς at the end of a word only).
    expect_prep(true, false, true, "\xce\x9f\xce\x94\xce\x9f\xce\xa3 \xce\xa3\xce\x91",
                "\xce\xbf\xce\xb4\xce\xbf\xcf\x82 \xcf\x83\xce\xb1");
}

static void test_prep_each_switch(void **state) {
    (void)state;
    // XLNet's defaults: no lowercasing, accents still go.
    expect_prep(true, false, false, "\xc3\x80LB\xc3\x89RT  is ``great''", "ALBERT is \"great\"");
    expect_prep(true, false, false, "Cafe\xcc\x81 na\xc3\xafve", "Cafe naive");
    // Hangul decomposes into conjoining jamo of combining class 0, which stay.
    expect_prep(true, false, false, "\xed\x95\x9c", "\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab");
    // keep_accents: the text is not normalised at all; lower() keeps U+0130's dot.
    expect_prep(true, true, true, "Caf\xc3\xa9 \xc4\xb0", "caf\xc3\xa9 i\xcc\x87");
    expect_prep(true, true, false, "\xef\xac\x81", "\xef\xac\x81");
    // remove_space off: whitespace is kept as it is; the quotes are replaced regardless.
    expect_prep(false, true, false, "  a  ''b''\t", "  a  \"b\"\t");
    // Python's str.split() also splits on U+001C..U+001F, but not on U+200B.
    expect_prep(true, true, false, "a\x1c" "b\xe2\x80\x8b" "c", "a b\xe2\x80\x8b" "c");
    // Marks are dropped after the whitespace collapse, so a space can end up first (Python
    // gives the same: U+1D165 has combining class 216).
    expect_prep(true, false, false, "\xf0\x9d\x85\xa5 x", " x");
    // str.replace goes left to right without overlaps.
    expect_prep(true, true, false, "```x'''", "\"`x\"'");
}

// ---------------------------------------------------------------------------------------------
// directories

static const char *xlnet_model(void) {
    static char path[4096];
    const char *p = test_shared_path("vocab/xlnet-base-cased/spiece.model");
    if (!p) return NULL;
    snprintf(path, sizeof path, "%s", p);
    return path;
}

// A minimal tokenizer.json of the shape the Hub has for SentencePiece families: a Unigram
// model whose normaliser is the SentencePiece "Precompiled" character map.
static const char PRECOMPILED_JSON[] =
    "{\"version\": \"1.0\", \"added_tokens\": [],"
    " \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": ["
    "   {\"type\": \"Replace\", \"pattern\": {\"String\": \"``\"}, \"content\": \"\\\"\"},"
    "   {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"AAAA\"}]},"
    " \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\\u2581\","
    "   \"prepend_scheme\": \"always\", \"split\": true},"
    " \"post_processor\": null, \"decoder\": null,"
    " \"model\": {\"type\": \"Unigram\", \"unk_id\": 0,"
    "   \"vocab\": [[\"<unk>\", 0.0], [\"\\u2581a\", -1.0], [\"a\", -2.0]]}}";

static const char ALBERT_CONFIG[] =
    "{\"tokenizer_class\": \"AlbertTokenizer\", \"cls_token\": \"<cls>\", \"sep_token\": \"<sep>\","
    " \"mask_token\": {\"content\": \"<mask>\", \"lstrip\": true}, \"unk_token\": \"<unk>\","
    " \"pad_token\": \"<pad>\"}";

// A temporary directory with the given files (NULL content: not written); the xlnet model
// goes in as model_name when that is given.
static char *make_dir(const char *model_name, const char *json, const char *config) {
    char *dir = test_mkdtemp();
    if (model_name) {
        size_t n = 0;
        char *model = test_read_file(xlnet_model(), &n);
        assert_non_null(model);
        free(test_write_file(dir, model_name, model, n));
        free(model);
    }
    if (json) free(test_write_file(dir, "tokenizer.json", json, strlen(json)));
    if (config) free(test_write_file(dir, "tokenizer_config.json", config, strlen(config)));
    return dir;
}

static void remove_dir(char *dir) {
    test_rmtree(dir);
    free(dir);
}

// The raw model's ids for text (no preparation, no specials).
static int64_t raw_ids(const char *text, int32_t *out, int64_t cap) {
    struct lector_spm *spm = NULL;
    struct lector_error err = {0};
    if (lector_spm_open(xlnet_model(), &spm, &err) != LECTOR_STATUS_OK) fail_msg("open: %s", err.msg);
    int32_t *ids = NULL;
    int64_t n = 0;
    assert_int_equal(lector_spm_encode(spm, text, strlen(text), &ids, &n, &err), LECTOR_STATUS_OK);
    assert_true(n <= cap);
    memcpy(out, ids, (size_t)n * sizeof *ids);
    lector_free(ids);
    lector_spm_close(spm);
    return n;
}

// encode_pieces(text) must equal the raw model's ids of prepared.
static void expect_pieces_of(const struct lector_tokenizer *tok, const char *text,
                             const char *prepared) {
    int32_t want[256];
    int64_t n_want = raw_ids(prepared, want, 256);
    int32_t *ids = NULL;
    int64_t n = 0;
    struct lector_error err = {0};
    assert_int_equal(lector_tokenizer_encode_pieces(tok, text, strlen(text), &ids, &n, &err),
                     LECTOR_STATUS_OK);
    if (n != n_want || memcmp(ids, want, (size_t)n * sizeof *ids) != 0)
        fail_msg("\"%s\": %lld ids, want the %lld of \"%s\"", text, (long long)n, (long long)n_want,
                 prepared);
    lector_free(ids);
}

// Without a SentencePiece model beside it, the tokenizer.json refusal stands and names the
// component.
static void test_fallback_refused_without_model(void **state) {
    (void)state;
    char *dir = make_dir(NULL, PRECOMPILED_JSON, ALBERT_CONFIG);
    struct lector_tokenizer *tok = (struct lector_tokenizer *)1;
    struct lector_error err = {0};
    assert_int_equal(lector_tokenizer_open(dir, &tok, &err), LECTOR_STATUS_UNSUPPORTED);
    assert_null(tok);
    assert_int_equal(err.code, LECTOR_STATUS_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "'Precompiled'"));
    assert_non_null(strstr(err.msg, "tokenizer.json"));
    // Also with a NULL error.
    assert_int_equal(lector_tokenizer_open(dir, &tok, NULL), LECTOR_STATUS_UNSUPPORTED);
    remove_dir(dir);
}

// An ALBERT-style folder: tokenizer.json (Precompiled) + spiece.model + tokenizer_config.json.
static void test_fallback_albert_folder(void **state) {
    (void)state;
    if (!test_shared_dir()) test_skip();
    char *dir = make_dir("spiece.model", PRECOMPILED_JSON, ALBERT_CONFIG);
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    if (lector_tokenizer_open(dir, &tok, &err) != LECTOR_STATUS_OK) fail_msg("open: %s", err.msg);
    assert_int_equal(lector_tokenizer_kind(tok), LECTOR_TOKENIZER_SENTENCEPIECE);
    assert_string_equal(lector_tokenizer_source(tok), "spiece.model");
    assert_non_null(strstr(lector_tokenizer_source_note(tok), "'Precompiled'"));
    assert_non_null(strstr(lector_tokenizer_source_note(tok), "used spiece.model"));
    // ALBERT's layout with the config's names: <cls> x <sep>.
    int32_t cls = lector_tokenizer_find(tok, "<cls>"), sep = lector_tokenizer_find(tok, "<sep>");
    assert_true(cls >= 0 && sep >= 0);
    assert_int_equal(lector_tokenizer_cls_id(tok), cls);
    assert_int_equal(lector_tokenizer_sep_id(tok), sep);
    assert_int_equal(lector_tokenizer_n_added(tok), 2);
    const char *text = "\xc3\x80LB\xc3\x89RT  is ``great''";
    expect_pieces_of(tok, text, "albert is \"great\"");
    int32_t want[64], ids[64];
    int64_t n_want = raw_ids("albert is \"great\"", want + 1, 62), n = 0;
    want[0] = cls;
    want[n_want + 1] = sep;
    assert_int_equal(lector_tokenizer_encode(tok, text, strlen(text), 64, ids, &n, NULL, &err),
                     LECTOR_STATUS_OK);
    assert_int_equal(n, n_want + 2);
    assert_memory_equal(ids, want, (size_t)n * sizeof *ids);
    // Special tokens in the text are matched first; each stretch is prepared on its own.
    int32_t *p = NULL;
    assert_int_equal(lector_tokenizer_encode_pieces(tok, "A <sep> B", 9, &p, &n, &err), LECTOR_STATUS_OK);
    bool has_sep = false;
    for (int64_t i = 0; i < n; i++) has_sep |= p[i] == sep;
    assert_true(has_sep);
    lector_free(p);
    // An explicit tokenizer.json path is not redirected.
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    struct lector_tokenizer *tok2 = NULL;
    assert_int_equal(lector_tokenizer_open_path(path, &tok2, &err), LECTOR_STATUS_UNSUPPORTED);
    assert_null(tok2);
    lector_tokenizer_close(tok);
    remove_dir(dir);
}

// Config switches on the same folder shape without tokenizer.json.
static void test_albert_config_switches(void **state) {
    (void)state;
    if (!test_shared_dir()) test_skip();
    static const struct {
        const char *extra, *text, *prepared;
    } cases[] = {
        {"", "\xc3\x80LB\xc3\x89RT  is ``great''", "albert is \"great\""},
        {", \"do_lower_case\": false", "\xc3\x80LB\xc3\x89RT  is ``great''", "ALBERT is \"great\""},
        {", \"keep_accents\": true", "Caf\xc3\xa9  ''Au Lait''", "caf\xc3\xa9 \"au lait\""},
        {", \"remove_space\": false, \"do_lower_case\": false", "  Hello   world ",
         "  Hello   world "},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char config[1024];
        snprintf(config, sizeof config, "%.*s%s}", (int)strlen(ALBERT_CONFIG) - 1, ALBERT_CONFIG,
                 cases[c].extra);
        char *dir = make_dir("spiece.model", NULL, config);
        struct lector_tokenizer *tok = NULL;
        struct lector_error err = {0};
        if (lector_tokenizer_open(dir, &tok, &err) != LECTOR_STATUS_OK) fail_msg("open: %s", err.msg);
        assert_string_equal(lector_tokenizer_source(tok), "spiece.model");
        assert_string_equal(lector_tokenizer_source_note(tok), "");
        expect_pieces_of(tok, cases[c].text, cases[c].prepared);
        lector_tokenizer_close(tok);
        remove_dir(dir);
    }
}

// XLNet by tokenizer_class: no lowercasing by default; the hash tells prepared from raw.
static void test_xlnet_defaults_and_hash(void **state) {
    (void)state;
    if (!test_shared_dir()) test_skip();
    const char *cfg = "{\"tokenizer_class\": \"XLNetTokenizer\"}";
    char *dir = make_dir("spiece.model", PRECOMPILED_JSON, cfg);
    struct lector_tokenizer *tok = NULL, *raw = NULL;
    struct lector_error err = {0};
    if (lector_tokenizer_open(dir, &tok, &err) != LECTOR_STATUS_OK) fail_msg("open: %s", err.msg);
    expect_pieces_of(tok, "\xc3\x80LB\xc3\x89RT  is ``great''", "ALBERT is \"great\"");
    if (lector_tokenizer_open_spm(xlnet_model(), LECTOR_SPM_FAMILY_XLNET, &raw, &err) != LECTOR_STATUS_OK)
        fail_msg("open: %s", err.msg);
    assert_string_equal(lector_tokenizer_source_note(raw), "");
    assert_string_not_equal(lector_tokenizer_hash(tok), lector_tokenizer_hash(raw));
    // The explicit API gives the raw model: accents reach SentencePiece.
    expect_pieces_of(raw, "Caf\xc3\xa9", "Caf\xc3\xa9");
    lector_tokenizer_close(raw);
    lector_tokenizer_close(tok);
    remove_dir(dir);
}

// CamemBERT: <s>NOTUSED=0 <pad>=1 </s>NOTUSED=2 <unk>=3, model ids + 4, <mask> last.
static void test_camembert_ids(void **state) {
    (void)state;
    if (!test_shared_dir()) test_skip();
    const char *cfg = "{\"tokenizer_class\": \"CamembertTokenizer\"}";
    char *dir = make_dir("sentencepiece.bpe.model", PRECOMPILED_JSON, cfg);
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    if (lector_tokenizer_open(dir, &tok, &err) != LECTOR_STATUS_OK) fail_msg("open: %s", err.msg);
    assert_string_equal(lector_tokenizer_source(tok), "sentencepiece.bpe.model");
    assert_int_equal(lector_tokenizer_n_vocab(tok), 32005);
    assert_string_equal(lector_tokenizer_token(tok, 0), "<s>NOTUSED");
    assert_string_equal(lector_tokenizer_token(tok, 4), "<unk>NOTUSED");
    assert_string_equal(lector_tokenizer_token(tok, 32004), "<mask>");
    assert_int_equal(lector_tokenizer_cls_id(tok), 5);  // the model's <s> (1) + 4
    assert_int_equal(lector_tokenizer_sep_id(tok), 6);
    assert_int_equal(lector_tokenizer_pad_id(tok), 1);
    assert_int_equal(lector_tokenizer_unk_id(tok), 3);
    int32_t ids[16];
    int64_t n = 0;
    assert_int_equal(lector_tokenizer_encode(tok, "Hello, world!", 13, 16, ids, &n, NULL, &err),
                     LECTOR_STATUS_OK);
    const int32_t want[] = {5, 21, 11372, 23, 189, 140, 6};
    assert_int_equal(n, 7);
    assert_memory_equal(ids, want, sizeof want);
    // The model's <unk> is CamemBERT's 3; <mask> swallows the space before it.
    assert_int_equal(lector_tokenizer_encode(tok, "\xe2\x98\x83 <mask>", 10, 16, ids, &n, NULL, &err),
                     LECTOR_STATUS_OK);
    bool has_unk = false;
    for (int64_t i = 1; i + 1 < n; i++) has_unk |= ids[i] == 3;
    assert_true(has_unk);
    assert_int_equal(ids[n - 2], 32004);
    lector_tokenizer_close(tok);
    remove_dir(dir);
}

// T5: x </s>, the suffix named by eos_token.
static void test_t5_eos_from_config(void **state) {
    (void)state;
    if (!test_shared_dir()) test_skip();
    const char *cfg = "{\"tokenizer_class\": \"T5Tokenizer\", \"eos_token\": \"<eod>\"}";
    char *dir = make_dir("spiece.model", PRECOMPILED_JSON, cfg);
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    if (lector_tokenizer_open(dir, &tok, &err) != LECTOR_STATUS_OK) fail_msg("open: %s", err.msg);
    int32_t eod = lector_tokenizer_find(tok, "<eod>");
    assert_true(eod >= 0);
    assert_int_equal(lector_tokenizer_cls_id(tok), -1);
    assert_int_equal(lector_tokenizer_sep_id(tok), eod);
    int32_t ids[16];
    int64_t n = 0;
    assert_int_equal(lector_tokenizer_encode(tok, "Hello, world!", 13, 16, ids, &n, NULL, &err),
                     LECTOR_STATUS_OK);
    const int32_t want[] = {17, 11368, 19, 185, 136, eod};
    assert_int_equal(n, 6);
    assert_memory_equal(ids, want, sizeof want);
    lector_tokenizer_close(tok);
    remove_dir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prep_albert_defaults),
        cmocka_unit_test(test_prep_each_switch),
        cmocka_unit_test(test_fallback_refused_without_model),
        cmocka_unit_test(test_fallback_albert_folder),
        cmocka_unit_test(test_albert_config_switches),
        cmocka_unit_test(test_xlnet_defaults_and_hash),
        cmocka_unit_test(test_camembert_ids),
        cmocka_unit_test(test_t5_eos_from_config),
    };
    return test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
