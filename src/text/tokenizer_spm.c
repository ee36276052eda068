// Opening a SentencePiece model (spiece.model, sentencepiece.bpe.model) with its family's
// special tokens, id layout and text preparation.
#include "lector/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_impl.h"
#include "text/tokenizer_impl.h"

// ---------------------------------------------------------------------------------------------
// SentencePiece

enum lector_spm_family lector__tok_spm_guess_family(const struct settings *s, const char *model_path) {
    const char *tc = s->tokenizer_class, *mt = s->model_type;
    if (strstr(tc, "Camembert") || strcmp(mt, "camembert") == 0) return LECTOR_SPM_FAMILY_CAMEMBERT;
    if (strstr(tc, "XLMRoberta") || strcmp(mt, "xlm-roberta") == 0) return LECTOR_SPM_FAMILY_XLMR;
    if (strstr(tc, "Albert") || strcmp(mt, "albert") == 0) return LECTOR_SPM_FAMILY_ALBERT;
    if (strstr(tc, "XLNet") || strcmp(mt, "xlnet") == 0) return LECTOR_SPM_FAMILY_XLNET;
    if (strstr(tc, "T5") || strcmp(mt, "t5") == 0) return LECTOR_SPM_FAMILY_T5;
    const char *base = strrchr(model_path, '/');
    base = base ? base + 1 : model_path;
    if (strcmp(base, "sentencepiece.bpe.model") == 0) return LECTOR_SPM_FAMILY_XLMR;
    return LECTOR_SPM_FAMILY_AUTO;
}

// The fairseq id layout of XLM-R and CamemBERT: a few fixed tokens first, then the model's
// pieces shifted, then <mask>. XLM-R: <s>=0 <pad>=1 </s>=2 <unk>=3, model pieces from id 3
// on at +1 (the model's own <unk> <s> </s> are hidden behind the fixed ones). CamemBERT:
// <s>NOTUSED=0 <pad>=1 </s>NOTUSED=2 <unk>=3, every model piece at +4 (so <s>=5, </s>=6),
// the model's <unk> at 4 named <unk>NOTUSED.
static int64_t fairseq_layout(const struct lector_spm *spm, bool camembert, const char **tokens,
                              int64_t *ids) {
    static const char *const xlmr_head[4] = {"<s>", "<pad>", "</s>", "<unk>"};
    static const char *const cam_head[4] = {"<s>NOTUSED", "<pad>", "</s>NOTUSED", "<unk>"};
    int64_t V = lector_spm_n_pieces(spm), k = 0;
    for (int i = 0; i < 4; i++) {
        tokens[k] = camembert ? cam_head[i] : xlmr_head[i];
        ids[k] = i;
        k++;
    }
    int32_t unk = lector_spm_unk_id(spm);
    for (int64_t i = camembert ? 0 : 3; i < V; i++) {
        tokens[k] = camembert && i == unk ? "<unk>NOTUSED" : lector_spm_piece(spm, (int32_t)i);
        ids[k] = i + (camembert ? 4 : 1);
        k++;
    }
    tokens[k] = "<mask>";
    ids[k] = V + (camembert ? 4 : 1);
    return k + 1;
}

// tok->vocab: the model's pieces with our ids (the model's, or fairseq's for XLM-R and
// CamemBERT, whose ids are shifted by tok->spm_offset).
static enum lector_status spm_vocab(struct lector_tokenizer *tok, bool fairseq, bool camembert,
                                    const char *model_path, struct lector_error *err) {
    const int64_t V = lector_spm_n_pieces(tok->spm);
    int64_t n_ids = fairseq ? V + 5 : V;
    const char **tokens = lector__calloc((size_t)n_ids, sizeof *tokens);
    int64_t *ids = lector__calloc((size_t)n_ids, sizeof *ids);
    enum lector_status st = LECTOR_STATUS_OK;
    if (!tokens || !ids) {
        st = lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", model_path);
        goto done;
    }
    int64_t k = 0;
    if (fairseq) {
        k = fairseq_layout(tok->spm, camembert, tokens, ids);
        tok->spm_offset = camembert ? 4 : 1;
    } else {
        for (int64_t i = 0; i < V; i++) {
            tokens[k] = lector_spm_piece(tok->spm, (int32_t)i);
            ids[k] = i;
            k++;
        }
    }
    st = lector__vocab_from_pairs(&tok->vocab, tokens, ids, k, model_path, err);
    if (st != LECTOR_STATUS_OK) goto done;
    if (fairseq) {
        for (int32_t i = 0; i < 4; i++) lector__vocab_prefer(&tok->vocab, i);
        lector__vocab_prefer(&tok->vocab, (int32_t)(k - 1));
    }
done:
    lector_free(ids);
    lector_free(tokens);
    return st;
}

// tok's special ids (the family's names, or s's where it names them), the prefix and suffix
// they add, and the special tokens matched in text: the model's control pieces and <mask>.
static enum lector_status spm_specials(struct lector_tokenizer *tok, enum lector_spm_family family,
                                       bool fairseq, const struct settings *s,
                                       const char *model_path, struct lector_error *err) {
    const char *cls = NULL, *sep = NULL, *pad = "<pad>", *unk = "<unk>", *mask = NULL;
    switch (family) {
    case LECTOR_SPM_FAMILY_ALBERT: cls = "[CLS]"; sep = "[SEP]"; mask = "[MASK]"; break;
    case LECTOR_SPM_FAMILY_XLNET: cls = "<cls>"; sep = "<sep>"; mask = "<mask>"; break;
    case LECTOR_SPM_FAMILY_XLMR:
    case LECTOR_SPM_FAMILY_CAMEMBERT: cls = "<s>"; sep = "</s>"; mask = "<mask>"; break;
    default: sep = "</s>"; break;
    }
    // tokenizer_config.json's names (T5 has no CLS, and its suffix is the eos_token).
    if (s) {
        if (cls && (s->names_set & NAME_CLS)) cls = s->cls;
        if (family == LECTOR_SPM_FAMILY_T5) {
            if (s->names_set & NAME_EOS) sep = s->eos;
        } else if (s->names_set & NAME_SEP) {
            sep = s->sep;
        }
        if (s->names_set & NAME_PAD) pad = s->pad;
        if (s->names_set & NAME_UNK) unk = s->unk;
        if (s->names_set & NAME_MASK) mask = s->mask;
    }
    struct lector__vocab *v = &tok->vocab;
    tok->id_cls = cls ? lector__vocab_find(v, cls, strlen(cls)) : -1;
    tok->id_sep = lector__vocab_find(v, sep, strlen(sep));
    tok->id_pad = lector__vocab_find(v, pad, strlen(pad));
    tok->id_unk = lector__vocab_find(v, unk, strlen(unk));
    tok->id_mask = mask ? lector__vocab_find(v, mask, strlen(mask)) : -1;
    if ((cls && tok->id_cls < 0) || tok->id_sep < 0)
        return lector__error(err, LECTOR_STATUS_FORMAT,
                             "%s: expected the special token %s in the SentencePiece model, not found",
                             model_path, (cls && tok->id_cls < 0) ? cls : sep);
    if (tok->id_unk < 0 && tok->spm_unk >= 0) tok->id_unk = tok->spm_unk + tok->spm_offset;
    switch (family) {
    case LECTOR_SPM_FAMILY_XLNET:
        tok->suffix[tok->n_suffix++] = tok->id_sep;
        tok->suffix[tok->n_suffix++] = tok->id_cls;
        break;
    case LECTOR_SPM_FAMILY_T5: tok->suffix[tok->n_suffix++] = tok->id_sep; break;
    default:
        tok->prefix[tok->n_prefix++] = tok->id_cls;
        tok->suffix[tok->n_suffix++] = tok->id_sep;
        break;
    }
    // The model's control pieces (and <mask>) are the special tokens matched in text.
    for (int64_t id = 0; id < v->n_vocab; id++) {
        bool special = (int32_t)id == tok->id_mask || (int32_t)id == tok->id_cls ||
                       (int32_t)id == tok->id_sep;
        if (fairseq) {
            special |= id < 4 || id == v->n_vocab - 1;
        } else {
            enum lector_spm_piece_type t = lector_spm_piece_type(tok->spm, (int32_t)id);
            special |= t == LECTOR_SPM_PIECE_CONTROL || t == LECTOR_SPM_PIECE_UNKNOWN;
        }
        if (special)
            lector__tok_add_special_strip(tok, v->strings + v->offsets[id], v->lens[id], (int32_t)id,
                              (int32_t)id == tok->id_mask, false);
    }
    lector_tokenizer_set_split_specials(tok, 0);
    return LECTOR_STATUS_OK;
}

// AlbertTokenizer / XLNetTokenizer prepare the text; their defaults, then the config's.
// A folder whose model has XLNet's <cls> gets XLNet's preparation with no config naming the
// class, as Hugging Face's XLNet tokenizers do. Then tok's hash, of the model file data (n
// bytes) and a tag naming the family and the preparation.
static void spm_prep_and_hash(struct lector_tokenizer *tok, enum lector_spm_family family,
                              enum lector_spm_family family_given, const struct settings *s,
                              const char *data, size_t n) {
    bool prep_family = family == LECTOR_SPM_FAMILY_ALBERT || family == LECTOR_SPM_FAMILY_XLNET;
    bool prep = family_given != LECTOR_SPM_FAMILY_AUTO ? prep_family : family == LECTOR_SPM_FAMILY_XLNET;
    if (s && prep) {
        tok->spm_prep.on = true;
        tok->spm_prep.lowercase = s->spm_lower >= 0 ? s->spm_lower != 0 : family == LECTOR_SPM_FAMILY_ALBERT;
        tok->spm_prep.remove_space = s->remove_space != 0;
        tok->spm_prep.keep_accents = s->keep_accents > 0;
    }
    static const char *const tags[] = {"spm-auto", "spm-albert", "spm-xlnet", "spm-xlmr", "spm-t5",
                                       "spm-camembert"};
    char tag[96];
    if (tok->spm_prep.on)
        snprintf(tag, sizeof tag, "%s-prep lower=%d remove_space=%d keep_accents=%d", tags[family],
                 tok->spm_prep.lowercase, tok->spm_prep.remove_space, tok->spm_prep.keep_accents);
    else
        snprintf(tag, sizeof tag, "%s", tags[family]);
    const char *files[1] = {data};
    size_t sizes[1] = {n};
    lector__tok_hash_files(tok, tag, files, sizes, 1);
}

// A SentencePiece model with a family's special tokens. s (may be NULL) is the directory's
// tokenizer_config.json / config.json: its special-token names win over the family's, and
// when it names an ALBERT or XLNet tokenizer, its text preparation applies.
enum lector_status lector__tok_open_spm(const char *model_path, enum lector_spm_family family,
                                        const struct settings *s, struct lector_tokenizer **out,
                                        struct lector_error *err) {
    char *data = NULL;
    size_t n = 0;
    struct lector_tokenizer *tok = NULL;
    enum lector_spm_family family_given = family;
    enum lector_status st = lector__read_file(model_path, VOCAB_BYTES_MAX, &data, &n, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    if ((st = lector__tok_new(model_path, &tok, err)) != LECTOR_STATUS_OK) goto fail;
    tok->kind = LECTOR__KIND_SPM;
    st = lector_spm_open_memory(data, n, model_path, &tok->spm, err);
    if (st != LECTOR_STATUS_OK) goto fail;
    int64_t V = lector_spm_n_pieces(tok->spm);
    if (family == LECTOR_SPM_FAMILY_AUTO) {
        if (lector_spm_find(tok->spm, "[CLS]", 5) >= 0) family = LECTOR_SPM_FAMILY_ALBERT;
        else if (lector_spm_find(tok->spm, "<cls>", 5) >= 0) family = LECTOR_SPM_FAMILY_XLNET;
        else family = LECTOR_SPM_FAMILY_T5;
    }
    // Our ids: the model's, or fairseq's for XLM-R and CamemBERT.
    bool xlmr = family == LECTOR_SPM_FAMILY_XLMR, camembert = family == LECTOR_SPM_FAMILY_CAMEMBERT;
    bool fairseq = xlmr || camembert;
    if (fairseq && V < 3) {
        st = lector__error(err, LECTOR_STATUS_FORMAT,
                           "%s: expected a %s model with <unk> <s> </s> first, found %lld pieces",
                           model_path, xlmr ? "XLM-R" : "CamemBERT", (long long)V);
        goto fail;
    }
    if ((st = spm_vocab(tok, fairseq, camembert, model_path, err)) != LECTOR_STATUS_OK) goto fail;
    tok->spm_unk = lector_spm_unk_id(tok->spm);
    if ((st = spm_specials(tok, family, fairseq, s, model_path, err)) != LECTOR_STATUS_OK)
        goto fail;
    spm_prep_and_hash(tok, family, family_given, s, data, n);
    lector__tok_set_source(tok, model_path, NULL);
    *out = tok;
    tok = NULL; // the cleanup below then has no tokenizer to close
fail:
    lector_tokenizer_close(tok);
    lector_free(data);
    return st;
}
