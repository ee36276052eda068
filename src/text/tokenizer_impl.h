// Shared by the files that open tokenizers (src/text/tokenizer*.c): the settings read from a
// folder's configuration files, and the steps every format's opener takes.
#ifndef LECTOR_TEXT_TOKENIZER_IMPL_H
#define LECTOR_TEXT_TOKENIZER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lector/spm.h"
#include "lector/tokenizer.h"
#include "text/text_impl.h"

// A vocabulary file is a few MB; refusing anything huge keeps a stray path from eating memory.
#define VOCAB_BYTES_MAX ((size_t)256 << 20)
#define CONFIG_BYTES_MAX ((size_t)64 << 20)

// ---------------------------------------------------------------------------------------------
// settings (tokenizer_config.c)

enum { NAME_UNK = 1, NAME_CLS = 2, NAME_SEP = 4, NAME_PAD = 8, NAME_MASK = 16, NAME_EOS = 32 };

struct settings {
    bool lowercase;
    int strip_accents;  // -1 = follow lowercase
    bool isolate_cjk;
    int32_t n_word_chars_max;
    // Special token names; tokenizer_config.json may rename them.
    char unk[64], cls[64], sep[64], pad[64], mask[64];
    bool names_given;  // tokenizer_config.json named at least one of them
    unsigned names_set;  // which of them it named: NAME_UNK << k ...
    char eos[64];        // eos_token (T5's suffix)
    // SentencePiece preparation (AlbertTokenizer / XLNetTokenizer): -1 = the class default.
    int spm_lower, remove_space, keep_accents;
    int add_prefix_space;  // BPE: -1 unset
    int basic_tokenize;    // BertTokenizer's do_basic_tokenize: -1 unset
    char tokenizer_class[64];
    char model_type[64];  // config.json
};

void lector__tok_settings_default(struct settings *s);
// obj[key] as a boolean: absent keeps *out; null gives null_value, or is an error when
// null_value is -2.
enum lector_status lector__tok_json_flag(const json_t *obj, const char *key, int null_value, int *out,
                                         const char *path, struct lector_error *err);
// A special-token name: a string, or an object with "content" (AddedToken form). Returns
// whether one was found.
bool lector__tok_json_token_name(const json_t *obj, const char *key, char *out, size_t n);
// tokenizer_config.json (transformers' BertTokenizer arguments).
enum lector_status lector__tok_read_config(const char *path, struct settings *s,
                                           struct lector_error *err);
void lector__tok_read_model_type(const char *dir, struct settings *s);

// ---------------------------------------------------------------------------------------------
// building the tokenizer (tokenizer.c)

// An empty tokenizer (no special ids yet) in *out; NOMEM naming path when out of memory.
enum lector_status lector__tok_new(const char *path, struct lector_tokenizer **out,
                                   struct lector_error *err);
// Record which file(s) a tokenizer came from (their base names).
const char *lector__tok_base_name(const char *path);
void lector__tok_set_source(struct lector_tokenizer *tok, const char *path, const char *path2);
// Add a special token (text must outlive tok), keeping the list longest first so that the
// first match is the longest; an empty or repeated string is ignored.
void lector__tok_add_special_strip(struct lector_tokenizer *tok, const char *text, size_t len,
                                   int32_t id, bool lstrip, bool rstrip);
enum lector_status lector__tok_finish(struct lector_tokenizer *tok, const struct settings *s,
                                      const char *origin, struct lector_error *err);
// The ids of the model's specials, by name, when the post-processor did not give them.
void lector__tok_find_family_ids(struct lector_tokenizer *tok);
// The settings hash of a non-WordPiece tokenizer: a tag, the source file(s) and the specials.
void lector__tok_hash_files(struct lector_tokenizer *tok, const char *tag, const char *const *data,
                            const size_t *n, int n_files);

// ---------------------------------------------------------------------------------------------
// the openers of each format

// The vocabulary of a tokenizer.json BPE / WordPiece model: {"token": id, ...}.
enum lector_status lector__tok_vocab_from_object(const json_t *vocab, struct lector__vocab *v,
                                                 const char *path, const char *what,
                                                 struct lector_error *err);
enum lector_status lector__tok_open_json(const char *path, struct settings *s,
                                         struct lector_tokenizer **out,
                                         struct lector_error *err);
// RoBERTa's tokens, registered as added tokens by transformers' RobertaTokenizer; <mask>
// swallows the whitespace before it.
enum lector_status lector__tok_open_vocab_merges(const char *vocab_path, const char *merges_path,
                                                 const struct settings *s, struct lector_tokenizer **out,
                                                 struct lector_error *err);
// A SentencePiece model with a family's special tokens. s (may be NULL) is the directory's
// tokenizer_config.json / config.json: its special-token names win over the family's, and
// when it names an ALBERT or XLNet tokenizer, its text preparation applies.
enum lector_status lector__tok_open_spm(const char *model_path, enum lector_spm_family family,
                                        const struct settings *s, struct lector_tokenizer **out,
                                        struct lector_error *err);
enum lector_spm_family lector__tok_spm_guess_family(const struct settings *s, const char *model_path);

#endif /* LECTOR_TEXT_TOKENIZER_IMPL_H */
