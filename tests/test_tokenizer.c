// Unit tests of the WordPiece tokenizer on a small hand-made vocabulary (no shared/ needed).
// Expected pieces follow Hugging Face BertNormalizer + BertPreTokenizer + WordPiece; they are
// written as token strings and turned into ids with this file's own copy of the vocabulary.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lector/tokenizer.h"
#include "testutil.h"

// Line i is token id i.
static const char *const VOCAB[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "hello", "world", ",", "!", "cafe", "##s", "un", "##aff", "##able",
    "straße", "strasse", "中", "国", ".", "i", "##\xcc\x87" /* ## U+0307 */,
    "a", "##b", "café", "Hello", "$", "\xe2\x80\x9c" /* U+201C */, "\xe2\x80\x9d" /* U+201D */,
    "istanbul", "ß", "x", "##x", "σ", "##σ", "##\xe2\x83\x9d" /* ## U+20DD (Me) */,
    "##\xe0\xa4\x83" /* ## U+0903 (Mc) */, "World",
    "##\xf0\x9d\x85\xa5\xf0\x9d\x85\xad" /* ## U+1D165 U+1D16D (Mc, ccc 216 then 226) */,
};
#define N_VOCAB ((int)(sizeof VOCAB / sizeof VOCAB[0]))

static int32_t id_of(const char *token) {
    for (int i = 0; i < N_VOCAB; i++)
        if (strcmp(VOCAB[i], token) == 0) return i;
    fail_msg("test bug: '%s' is not in the test vocabulary", token);
    return -1;
}

struct fixture {
    char *dir;
    char *vocab_path;
};

static char *vocab_text(const char *eol) {
    size_t n = 0;
    for (int i = 0; i < N_VOCAB; i++) n += strlen(VOCAB[i]) + strlen(eol);
    char *s = malloc(n + 1), *p = s;
    for (int i = 0; i < N_VOCAB; i++) p += sprintf(p, "%s%s", VOCAB[i], eol);
    return s;
}

static int setup(void **state) {
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = test_mkdtemp();
    char *text = vocab_text("\n");
    f->vocab_path = test_write_file(f->dir, "vocab.txt", text, strlen(text));
    free(text);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    test_rmtree(f->dir);
    free(f->dir);
    free(f->vocab_path);
    free(f);
    return 0;
}

static struct lector_tokenizer *open_tok(void **state, int lower, int strip, int cjk) {
    struct fixture *f = *state;
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    enum lector_status st = lector_tokenizer_open_wordpiece(f->vocab_path, lower, strip, cjk, &tok, &err);
    if (st != LECTOR_STATUS_OK) fail_msg("open: %s", err.msg);
    return tok;
}

// Encode text (len bytes) without special tokens and compare with the expected token list,
// given as a NULL-terminated array of strings.
static void expect_pieces_n(const struct lector_tokenizer *tok, const char *text, size_t len,
                            const char *const *want) {
    int32_t *ids = NULL;
    int64_t n = 0;
    struct lector_error err = {0};
    enum lector_status st = lector_tokenizer_encode_pieces(tok, text, len, &ids, &n, &err);
    if (st != LECTOR_STATUS_OK) fail_msg("encode: %s", err.msg);
    int64_t n_want = 0;
    while (want[n_want]) n_want++;
    bool same = n == n_want;
    for (int64_t i = 0; same && i < n; i++) same = ids[i] == id_of(want[i]);
    if (!same) {
        fprintf(stderr, "text \"%.*s\": want", (int)len, text);
        for (int64_t i = 0; i < n_want; i++) fprintf(stderr, " %s", want[i]);
        fprintf(stderr, "\n  got");
        for (int64_t i = 0; i < n; i++) fprintf(stderr, " %s", lector_tokenizer_token(tok, ids[i]));
        fprintf(stderr, "\n");
    }
    lector_free(ids);
    assert_true(same);
}
#define EXPECT(tok, text, ...)                                                   \
    do {                                                                         \
        const char *const want_[] = {__VA_ARGS__, NULL};                         \
        expect_pieces_n(tok, text, strlen(text), want_);                         \
    } while (0)
#define EXPECT_NONE(tok, text)                                                   \
    do {                                                                         \
        const char *const want_[] = {NULL};                                      \
        expect_pieces_n(tok, text, strlen(text), want_);                         \
    } while (0)

// ---------------------------------------------------------------------------------------------

static void test_open_special_ids_by_name(void **state) {
    struct lector_tokenizer *tok = open_tok(state, 1, -1, 1);
    assert_int_equal(lector_tokenizer_n_vocab(tok), N_VOCAB);
    assert_int_equal(lector_tokenizer_cls_id(tok), id_of("[CLS]"));
    assert_int_equal(lector_tokenizer_sep_id(tok), id_of("[SEP]"));
    assert_int_equal(lector_tokenizer_pad_id(tok), id_of("[PAD]"));
    assert_int_equal(lector_tokenizer_unk_id(tok), id_of("[UNK]"));
    assert_int_equal(lector_tokenizer_find(tok, "straße"), id_of("straße"));
    assert_int_equal(lector_tokenizer_find(tok, "nope"), -1);
    assert_string_equal(lector_tokenizer_token(tok, 5), "hello");
    assert_null(lector_tokenizer_token(tok, N_VOCAB));
    assert_null(lector_tokenizer_token(tok, -1));
    lector_tokenizer_close(tok);
    lector_tokenizer_close(NULL);
}

static void test_encode_lowercase_and_accents(void **state) {
    struct lector_tokenizer *tok = open_tok(state, 1, -1, 1);
    EXPECT(tok, "Hello, World! CAFÉ", "hello", ",", "world", "!", "cafe");
    // Decomposed input: e + U+0301 loses its Mn mark too.
    EXPECT(tok, "Cafe\xcc\x81s", "cafe", "##s");
    EXPECT(tok, "unaffable", "un", "##aff", "##able");
    // Only Mn goes: an enclosing mark (Me) and a spacing mark (Mc) stay in the word.
    EXPECT(tok, "a\xe2\x83\x9d", "a", "##\xe2\x83\x9d");
    EXPECT(tok, "a\xe0\xa4\x83", "a", "##\xe0\xa4\x83");
    // NFD puts combining marks in canonical order: U+1D16D (ccc 226) U+1D165 (ccc 216)
    // becomes U+1D165 U+1D16D, and being Mc both survive; an Mn mark between them goes.
    EXPECT(tok, "x\xf0\x9d\x85\xad\xf0\x9d\x85\xa5", "x",
           "##\xf0\x9d\x85\xa5\xf0\x9d\x85\xad");
    EXPECT(tok, "x\xf0\x9d\x85\xad\xcc\x81\xf0\x9d\x85\xa5", "x",
           "##\xf0\x9d\x85\xa5\xf0\x9d\x85\xad");
    // Σ lowercases to σ everywhere (per character, no final-sigma rule).
    EXPECT(tok, "ΣΣ", "σ", "##σ");
    lector_tokenizer_close(tok);

    // Cased: nothing is lowercased or stripped.
    tok = open_tok(state, 0, -1, 1);
    EXPECT(tok, "Hello World café", "Hello", "World", "café");
    EXPECT(tok, "CAFÉ", "[UNK]");
    // No NFD without strip_accents, so no reordering either.
    EXPECT(tok, "x\xf0\x9d\x85\xad\xf0\x9d\x85\xa5", "[UNK]");
    lector_tokenizer_close(tok);
}

static void test_encode_sharp_s_and_dotted_i(void **state) {
    struct lector_tokenizer *tok = open_tok(state, 1, -1, 1);
    // Lowercasing is not case folding: ß stays ß.
    EXPECT(tok, "Straße", "straße");
    EXPECT(tok, "ß", "ß");
    // Stripping first: İ -> I + U+0307, the mark goes, then i.
    EXPECT(tok, "İstanbul", "istanbul");
    lector_tokenizer_close(tok);
    // Lowercase without stripping: İ -> i + U+0307 (the full mapping, two code points).
    tok = open_tok(state, 1, 0, 1);
    EXPECT(tok, "İ", "i", "##\xcc\x87");
    lector_tokenizer_close(tok);
}

static void test_encode_cjk_isolation(void **state) {
    struct lector_tokenizer *tok = open_tok(state, 1, -1, 1);
    EXPECT(tok, "中国", "中", "国");
    EXPECT(tok, "x中x", "x", "中", "x");
    lector_tokenizer_close(tok);
    // Without isolation 中国 is one word, and 国 has no ## piece.
    tok = open_tok(state, 1, -1, 0);
    EXPECT(tok, "中国", "[UNK]");
    lector_tokenizer_close(tok);
}

static void test_encode_punctuation_split(void **state) {
    struct lector_tokenizer *tok = open_tok(state, 1, -1, 1);
    EXPECT(tok, "hello.world", "hello", ".", "world");
    // ASCII symbols count as punctuation even though Unicode calls $ a currency sign.
    EXPECT(tok, "x$x", "x", "$", "x");
    // Unicode punctuation (Pi, Pf).
    EXPECT(tok, "\xe2\x80\x9cx\xe2\x80\x9d", "\xe2\x80\x9c", "x", "\xe2\x80\x9d");
    // A punctuation character missing from the vocabulary is [UNK] on its own.
    EXPECT(tok, "x#x", "x", "[UNK]", "x");
    lector_tokenizer_close(tok);
}

static void test_encode_control_chars(void **state) {
    struct lector_tokenizer *tok = open_tok(state, 1, -1, 1);
    // NUL, DEL, U+200B (Cf), U+E000 (Co) and U+FFFD vanish without splitting the word.
    expect_pieces_n(tok, "hel\0lo", 6, (const char *const[]){"hello", NULL});
    EXPECT(tok, "hel\x7flo", "hello");
    EXPECT(tok, "\xe2\x80\x8bhello", "hello");
    EXPECT(tok, "hel\xee\x80\x80lo", "hello");
    EXPECT(tok, "hel\xef\xbf\xbdlo", "hello");
    // Tab, CR, LF, NBSP and U+3000 are whitespace.
    EXPECT(tok, "hello\tworld\r\n", "hello", "world");
    EXPECT(tok, "hello\xc2\xa0world\xe3\x80\x80hello", "hello", "world", "hello");
    // U+0085 is a C1 control: dropped before whitespace is considered, so the words join.
    EXPECT(tok, "hello\xc2\x85world", "[UNK]");
    EXPECT_NONE(tok, "");
    EXPECT_NONE(tok, " \t\x01 ");
    lector_tokenizer_close(tok);
}

static void test_encode_long_and_unknown_words(void **state) {
    struct lector_tokenizer *tok = open_tok(state, 1, -1, 1);
    char word[102];
    memset(word, 'x', 101);
    word[101] = '\0';
    // 101 characters: over the limit of 100, one [UNK].
    EXPECT(tok, word, "[UNK]");
    // 100 characters: x then 99 ##x.
    int32_t *ids = NULL;
    int64_t n = 0;
    assert_int_equal(lector_tokenizer_encode_pieces(tok, word, 100, &ids, &n, NULL), LECTOR_STATUS_OK);
    assert_int_equal(n, 100);
    assert_int_equal(ids[0], id_of("x"));
    for (int i = 1; i < 100; i++) assert_int_equal(ids[i], id_of("##x"));
    lector_free(ids);
    // The limit counts characters, not bytes: 60 two-byte ß... is 60 characters.
    char sharp[121];
    for (int i = 0; i < 60; i++) memcpy(sharp + 2 * i, "\xc3\x9f", 2);
    sharp[120] = '\0';
    EXPECT(tok, sharp, "[UNK]");  // ß then no ##ß: unknown, but not because of length
    EXPECT(tok, "xyzzy", "[UNK]");
    // A partial match is still one [UNK], not a + ##b + [UNK].
    EXPECT(tok, "ab", "a", "##b");
    EXPECT(tok, "abq", "[UNK]");
    EXPECT(tok, "abq hello", "[UNK]", "hello");
    lector_tokenizer_close(tok);
}

static void test_encode_special_tokens_in_text(void **state) {
    struct lector_tokenizer *tok = open_tok(state, 1, -1, 1);
    // Written special tokens are matched verbatim before lowercasing, like HF added tokens.
    EXPECT(tok, "[CLS]hello [SEP] [MASK]", "[CLS]", "hello", "[SEP]", "[MASK]");
    EXPECT(tok, "[cls]", "[UNK]", "[UNK]", "[UNK]");
    lector_tokenizer_close(tok);
}

static void test_encode_truncation(void **state) {
    struct lector_tokenizer *tok = open_tok(state, 1, -1, 1);
    const char *text = "hello world hello world";
    int32_t ids[8];
    int64_t n = -1;
    struct lector_encode_info info = {-1, -1};
    assert_int_equal(lector_tokenizer_encode(tok, text, strlen(text), 4, ids, &n, &info, NULL),
                     LECTOR_STATUS_OK);
    assert_int_equal(n, 4);
    assert_int_equal(info.truncated, 1);
    int32_t want4[] = {id_of("[CLS]"), id_of("hello"), id_of("world"), id_of("[SEP]")};
    assert_memory_equal(ids, want4, sizeof want4);
    // Exactly enough room: not truncated.
    assert_int_equal(lector_tokenizer_encode(tok, text, strlen(text), 6, ids, &n, &info, NULL),
                     LECTOR_STATUS_OK);
    assert_int_equal(n, 6);
    assert_int_equal(info.truncated, 0);
    assert_int_equal(ids[5], id_of("[SEP]"));
    // n_max 2: only the specials.
    assert_int_equal(lector_tokenizer_encode(tok, text, strlen(text), 2, ids, &n, &info, NULL),
                     LECTOR_STATUS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(info.truncated, 1);
    assert_int_equal(ids[0], id_of("[CLS]"));
    assert_int_equal(ids[1], id_of("[SEP]"));
    // info may be NULL; an empty text is [CLS] [SEP].
    assert_int_equal(lector_tokenizer_encode(tok, "", 0, 8, ids, &n, NULL, NULL), LECTOR_STATUS_OK);
    assert_int_equal(n, 2);
    struct lector_error err = {0};
    assert_int_equal(lector_tokenizer_encode(tok, text, strlen(text), 1, ids, &n, &info, &err),
                     LECTOR_STATUS_INVALID_ARG);
    // Bad UTF-8 after the cut is still an error.
    const char *bad = "hello world hello \x80";
    assert_int_equal(lector_tokenizer_encode(tok, bad, strlen(bad), 3, ids, &n, &info, &err),
                     LECTOR_STATUS_INVALID_UTF8);
    assert_int_equal(err.offset, 18);
    lector_tokenizer_close(tok);
}

static void expect_bad_utf8(const struct lector_tokenizer *tok, const char *text, size_t len,
                            int64_t offset) {
    int32_t *ids = NULL;
    int64_t n = 0;
    struct lector_error err = {0};
    enum lector_status st = lector_tokenizer_encode_pieces(tok, text, len, &ids, &n, &err);
    assert_int_equal(st, LECTOR_STATUS_INVALID_UTF8);
    assert_int_equal(err.code, LECTOR_STATUS_INVALID_UTF8);
    assert_int_equal(err.offset, offset);
    assert_null(ids);
    assert_non_null(strstr(err.msg, "UTF-8"));
    int32_t buf[16];
    st = lector_tokenizer_encode(tok, text, len, 16, buf, &n, NULL, &err);
    assert_int_equal(st, LECTOR_STATUS_INVALID_UTF8);
    assert_int_equal(err.offset, offset);
}

static void test_encode_invalid_utf8(void **state) {
    struct lector_tokenizer *tok = open_tok(state, 1, -1, 1);
    expect_bad_utf8(tok, "ab\x80", 3, 2);                     // lone continuation byte
    expect_bad_utf8(tok, "a\xc0\x80", 3, 1);                  // overlong 2-byte NUL
    expect_bad_utf8(tok, "\xc1\xbf", 2, 0);                   // overlong 2-byte
    expect_bad_utf8(tok, "ab\xe0\x80\x80", 5, 2);             // overlong 3-byte
    expect_bad_utf8(tok, "\xf0\x80\x80\x80", 4, 0);           // overlong 4-byte
    expect_bad_utf8(tok, "x \xed\xa0\x80", 5, 2);             // surrogate U+D800
    expect_bad_utf8(tok, "\xed\xbf\xbf", 3, 0);               // surrogate U+DFFF
    expect_bad_utf8(tok, "abc\xf4\x90\x80\x80", 7, 3);        // U+110000
    expect_bad_utf8(tok, "\xf5\x80\x80\x80", 4, 0);           // lead byte above F4
    expect_bad_utf8(tok, "\xff", 1, 0);
    expect_bad_utf8(tok, "a\xe4\xb8", 3, 1);                  // truncated at the end
    expect_bad_utf8(tok, "a\xe4\xb8" "b", 4, 1);              // truncated by ASCII
    expect_bad_utf8(tok, "hello \xc3", 7, 6);                 // truncated 2-byte
    expect_bad_utf8(tok, "中\xe4\xb8\xe4\xb8\xad", 9, 3);     // truncated then valid
    lector_tokenizer_close(tok);
}

static void test_open_missing_unk(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    const char *text = "[PAD]\n[CLS]\n[SEP]\nhello\n";
    char *path = test_write_file(dir, "vocab.txt", text, strlen(text));
    struct lector_tokenizer *tok = (struct lector_tokenizer *)1;
    struct lector_error err = {0};
    assert_int_equal(lector_tokenizer_open_wordpiece(path, 1, -1, 1, &tok, &err),
                     LECTOR_STATUS_FORMAT);
    assert_null(tok);
    assert_non_null(strstr(err.msg, "[UNK]"));
    assert_non_null(strstr(err.msg, "vocab.txt"));
    // The same through a directory, and with an empty vocabulary.
    tok = NULL;
    assert_int_equal(lector_tokenizer_open(dir, &tok, &err), LECTOR_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "[UNK]"));
    free(path);
    path = test_write_file(dir, "vocab.txt", "", 0);
    assert_int_equal(lector_tokenizer_open(dir, &tok, &err), LECTOR_STATUS_FORMAT);
    assert_null(tok);
    free(path);
    test_rmtree(dir);
    free(dir);
}

static void test_open_crlf_vocab(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    char *text = vocab_text("\r\n");
    free(test_write_file(dir, "vocab.txt", text, strlen(text)));
    free(text);
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    assert_int_equal(lector_tokenizer_open(dir, &tok, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_tokenizer_n_vocab(tok), N_VOCAB);
    assert_string_equal(lector_tokenizer_token(tok, 5), "hello");
    EXPECT(tok, "Hello, World!", "hello", ",", "world", "!");
    lector_tokenizer_close(tok);
    test_rmtree(dir);
    free(dir);
}

static void test_open_duplicates_and_no_final_newline(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    // "hello" on lines 4 and 6: HF's loaders insert line by line, so the later id wins.
    const char *text = "[UNK]\n[CLS]\n[SEP]\n\nhello\nworld\nhello\n##s";
    free(test_write_file(dir, "vocab.txt", text, strlen(text)));
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    assert_int_equal(lector_tokenizer_open(dir, &tok, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_tokenizer_n_vocab(tok), 8);
    assert_int_equal(lector_tokenizer_find(tok, "hello"), 6);
    assert_string_equal(lector_tokenizer_token(tok, 4), "hello");
    assert_string_equal(lector_tokenizer_token(tok, 3), "");
    assert_int_equal(lector_tokenizer_find(tok, "##s"), 7);
    assert_int_equal(lector_tokenizer_pad_id(tok), -1);
    int32_t *ids = NULL;
    int64_t n = 0;
    assert_int_equal(lector_tokenizer_encode_pieces(tok, "hellos", 6, &ids, &n, &err), LECTOR_STATUS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 6);
    assert_int_equal(ids[1], 7);
    lector_free(ids);
    lector_tokenizer_close(tok);
    // A vocabulary that is not UTF-8 is refused with its line number.
    const char *bad = "[UNK]\n[CLS]\nab\xff\n[SEP]\n";
    free(test_write_file(dir, "vocab.txt", bad, strlen(bad)));
    assert_int_equal(lector_tokenizer_open(dir, &tok, &err), LECTOR_STATUS_FORMAT);
    assert_int_equal(err.line, 3);
    test_rmtree(dir);
    free(dir);
}

static void test_open_dir_config_and_not_found(void **state) {
    struct fixture *f = *state;
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    // No config: uncased defaults.
    assert_int_equal(lector_tokenizer_open(f->dir, &tok, &err), LECTOR_STATUS_OK);
    EXPECT(tok, "Hello", "hello");
    char hash_uncased[65];
    snprintf(hash_uncased, sizeof hash_uncased, "%s", lector_tokenizer_hash(tok));
    lector_tokenizer_close(tok);

    const char *cfg = "{\"do_lower_case\": false, \"strip_accents\": null}";
    char *cfg_path = test_write_file(f->dir, "tokenizer_config.json", cfg, strlen(cfg));
    assert_int_equal(lector_tokenizer_open(f->dir, &tok, &err), LECTOR_STATUS_OK);
    EXPECT(tok, "Hello café", "Hello", "café");
    assert_int_equal(strlen(lector_tokenizer_hash(tok)), 64);
    assert_string_not_equal(lector_tokenizer_hash(tok), hash_uncased);
    lector_tokenizer_close(tok);

    const char *bad_cfg = "{\"do_lower_case\": \"yes\"}";
    free(test_write_file(f->dir, "tokenizer_config.json", bad_cfg, strlen(bad_cfg)));
    assert_int_equal(lector_tokenizer_open(f->dir, &tok, &err), LECTOR_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "do_lower_case"));
    remove(cfg_path);
    free(cfg_path);

    // The same settings give the same hash.
    assert_int_equal(lector_tokenizer_open(f->dir, &tok, &err), LECTOR_STATUS_OK);
    assert_string_equal(lector_tokenizer_hash(tok), hash_uncased);
    lector_tokenizer_close(tok);

    char *empty = test_mkdtemp();
    assert_int_equal(lector_tokenizer_open(empty, &tok, &err), LECTOR_STATUS_NOT_FOUND);
    assert_null(tok);
    assert_non_null(strstr(err.msg, empty));
    assert_non_null(strstr(err.msg, "vocab.txt"));
    assert_non_null(strstr(err.msg, "tokenizer.json"));
    test_rmtree(empty);
    free(empty);
}

static void test_open_tokenizer_json(void **state) {
    (void)state;
    char *dir = test_mkdtemp();
    const char *json =
        "{\"added_tokens\": [{\"id\": 1, \"content\": \"[UNK]\", \"normalized\": false},"
        " {\"id\": 2, \"content\": \"[CLS]\", \"normalized\": false},"
        " {\"id\": 3, \"content\": \"[SEP]\", \"normalized\": false}],"
        " \"normalizer\": {\"type\": \"BertNormalizer\", \"clean_text\": true,"
        "   \"handle_chinese_chars\": true, \"strip_accents\": null, \"lowercase\": false},"
        " \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\","
        "   \"continuing_subword_prefix\": \"##\", \"max_input_chars_per_word\": 100,"
        "   \"vocab\": {\"[PAD]\": 0, \"[UNK]\": 1, \"[CLS]\": 2, \"[SEP]\": 3, \"Hello\": 4,"
        "              \"hello\": 5, \"##s\": 6}}}";
    free(test_write_file(dir, "tokenizer.json", json, strlen(json)));
    struct lector_tokenizer *tok = NULL;
    struct lector_error err = {0};
    assert_int_equal(lector_tokenizer_open(dir, &tok, &err), LECTOR_STATUS_OK);
    assert_int_equal(lector_tokenizer_n_vocab(tok), 7);
    int32_t *ids = NULL;
    int64_t n = 0;
    assert_int_equal(lector_tokenizer_encode_pieces(tok, "Hellos [SEP]", 12, &ids, &n, &err),
                     LECTOR_STATUS_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 4);
    assert_int_equal(ids[1], 6);
    assert_int_equal(ids[2], 3);
    lector_free(ids);
    lector_tokenizer_close(tok);

    // A component lector does not implement is refused by name, never ignored.
    const char *pre = "{\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"\"},"
                      " \"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0]]}}";
    free(test_write_file(dir, "tokenizer.json", pre, strlen(pre)));
    assert_int_equal(lector_tokenizer_open(dir, &tok, &err), LECTOR_STATUS_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "tokenizer.json: normalizer 'Precompiled' is not supported"));
    const char *wp = "{\"pre_tokenizer\": {\"type\": \"Split\"},"
                     " \"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0}}}";
    free(test_write_file(dir, "tokenizer.json", wp, strlen(wp)));
    assert_int_equal(lector_tokenizer_open(dir, &tok, &err), LECTOR_STATUS_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "pre_tokenizer (with a WordPiece model) 'Split' is not supported"));
    const char *model = "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}}";
    free(test_write_file(dir, "tokenizer.json", model, strlen(model)));
    assert_int_equal(lector_tokenizer_open(dir, &tok, &err), LECTOR_STATUS_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "model 'WordLevel' is not supported"));
    test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_special_ids_by_name),
        cmocka_unit_test(test_encode_lowercase_and_accents),
        cmocka_unit_test(test_encode_sharp_s_and_dotted_i),
        cmocka_unit_test(test_encode_cjk_isolation),
        cmocka_unit_test(test_encode_punctuation_split),
        cmocka_unit_test(test_encode_control_chars),
        cmocka_unit_test(test_encode_long_and_unknown_words),
        cmocka_unit_test(test_encode_special_tokens_in_text),
        cmocka_unit_test(test_encode_truncation),
        cmocka_unit_test(test_encode_invalid_utf8),
        cmocka_unit_test(test_open_missing_unk),
        cmocka_unit_test(test_open_crlf_vocab),
        cmocka_unit_test(test_open_duplicates_and_no_final_newline),
        cmocka_unit_test(test_open_dir_config_and_not_found),
        cmocka_unit_test(test_open_tokenizer_json),
    };
    return test_status(cmocka_run_group_tests(tests, setup, teardown));
}
