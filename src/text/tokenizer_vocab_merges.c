// Opening a byte-level BPE tokenizer from vocab.json + merges.txt (GPT-2, RoBERTa).
#include "lector/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_impl.h"
#include "text/tokenizer_impl.h"

// ---------------------------------------------------------------------------------------------
// vocab.json + merges.txt

// RoBERTa's tokens, registered as added tokens by transformers' RobertaTokenizer; <mask>
// swallows the whitespace before it.
enum lector_status lector__tok_open_vocab_merges(const char *vocab_path, const char *merges_path,
                                                 const struct settings *s, struct lector_tokenizer **out,
                                                 struct lector_error *err) {
    char *vdata = NULL, *mdata = NULL;
    size_t vn = 0, mn = 0;
    json_t *vroot = NULL;
    struct lector_tokenizer *tok = NULL;
    enum lector_status st = lector__read_file(vocab_path, VOCAB_BYTES_MAX, &vdata, &vn, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    st = lector__read_file(merges_path, VOCAB_BYTES_MAX, &mdata, &mn, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    st = lector__json_parse(vdata, vn, vocab_path, -1, &vroot, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    if ((st = lector__tok_new(vocab_path, &tok, err)) != LECTOR_STATUS_OK) goto fail;
    tok->kind = LECTOR__KIND_BPE;
    if ((st = lector__tok_vocab_from_object(vroot, &tok->vocab, vocab_path, "vocabulary", err)) != LECTOR_STATUS_OK ||
        (st = lector__bpe_parse_merges_txt(&tok->bpe, &tok->vocab, mdata, mn, merges_path, err)) !=
            LECTOR_STATUS_OK)
        goto fail;
    tok->bpe.byte_level = true;
    for (int b = 0; b < 256; b++) {
        char c[4];
        int k = lector__utf8_encode(lector__byte_char((uint8_t)b), c);
        tok->bpe.byte_id[b] = lector__vocab_find(&tok->vocab, c, (size_t)k);
    }
    tok->pipe.n_pre = 1;
    tok->pipe.pre[0] = (struct lector__pre_op){.type = LECTOR__PRE_BYTE_LEVEL,
                                               .add_prefix_space = s->add_prefix_space > 0,
                                               .use_regex = true};
    // RoBERTa's names, each unless tokenizer_config.json gave its own (a config naming only
    // unk_token keeps <s> and </s>).
    const char *bos = (s->names_set & NAME_CLS) ? s->cls : "<s>";
    const char *eos = (s->names_set & NAME_SEP) ? s->sep : "</s>";
    const char *names[5] = {bos, eos, (s->names_set & NAME_UNK) ? s->unk : "<unk>",
                            (s->names_set & NAME_PAD) ? s->pad : "<pad>",
                            (s->names_set & NAME_MASK) ? s->mask : "<mask>"};
    for (int k = 0; k < 5; k++) {
        int32_t id = lector__vocab_find(&tok->vocab, names[k], strlen(names[k]));
        if (id >= 0)
            lector__tok_add_special_strip(tok, tok->vocab.strings + tok->vocab.offsets[id], tok->vocab.lens[id],
                              id, k == 4, false);
    }
    tok->id_cls = lector__vocab_find(&tok->vocab, bos, strlen(bos));
    tok->id_sep = lector__vocab_find(&tok->vocab, eos, strlen(eos));
    if (tok->id_cls < 0 || tok->id_sep < 0) {
        st = lector__error(err, LECTOR_STATUS_FORMAT,
                           "%s: expected the special tokens %s and %s in the vocabulary, %s not found",
                           vocab_path, bos, eos, tok->id_cls < 0 ? bos : eos);
        goto fail;
    }
    tok->prefix[tok->n_prefix++] = tok->id_cls;
    tok->suffix[tok->n_suffix++] = tok->id_sep;
    lector__tok_find_family_ids(tok);
    lector_tokenizer_set_split_specials(tok, 0);
    const char *files[2] = {vdata, mdata};
    size_t sizes[2] = {vn, mn};
    lector__tok_hash_files(tok, s->add_prefix_space > 0 ? "bpe-prefix-space" : "bpe", files, sizes, 2);
    lector__tok_set_source(tok, vocab_path, merges_path);
    *out = tok;
    tok = NULL; // the cleanup below then has no tokenizer to close
fail:
    lector_tokenizer_close(tok);
    json_decref(vroot);
    lector_free(mdata);
    lector_free(vdata);
    return st;
}
