// Hashed, TF-IDF-weighted n-gram features: the lexical half of a wide-and-deep head.
//
// Words come from a deliberately simple normaliser, the same at training and at
// classification time: ASCII letters are lower-cased, a word is a maximal run of ASCII
// letters and digits, apostrophes and bytes >= 0x80 (so UTF-8 words stay whole and "n't" or
// "'s" stay one word), and every other non-space byte is a one-byte word of its own ("!",
// "?", "-"). Word n-grams of order 1..word_order and, optionally, character n-grams of each
// word padded with '<' and '>' (lengths char_min..char_max, counted in UTF-8 characters) are
// hashed into n_buckets buckets. fit() keeps the buckets seen in the training texts (df >=
// min_df) as the feature columns and computes scikit-learn's smoothed idf,
// ln((1 + n) / (1 + df)) + 1; transform() weights each row's counts (raw, or 1 + ln tf with
// sublinear_tf) by the column weight and scales the row to unit L2 norm. The column weight is
// the idf, or with training labels and a naive Bayes weighting the idf times (or instead of it)
// how strongly the column marks a class (see nb_weights).
#include "lector/classifier.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_impl.h"

struct lector_ngrams {
    struct lector_ngram_params p;
    int64_t n_features; // S
    int32_t *buckets;   // (S) ascending bucket ids, one per feature column
    float *idf;         // (S)
    int32_t *col_of;    // (n_buckets) column of each bucket, -1 if unused
};

// Indexed by enum lector_ngram_weighting.
static const char *const weighting_names[] = {"idf", "nb", "idf-nb"};

const char *lector_ngram_weighting_name(int32_t w) {
    return w >= LECTOR_NGRAM_IDF && w <= LECTOR_NGRAM_IDF_NB ? weighting_names[w] : "?";
}

int32_t lector_ngram_weighting_parse(const char *s) {
    for (int32_t w = LECTOR_NGRAM_IDF; s && w <= LECTOR_NGRAM_IDF_NB; w++)
        if (strcmp(s, weighting_names[w]) == 0) return w;
    return -1;
}

// ---------------------------------------------------------------------------------------
// hashing

// FNV-1a over bytes, then a splitmix64 finaliser so nearby keys land far apart.
static uint64_t fnv1a(const unsigned char *s, size_t n, uint64_t h) {
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}
#define FNV_BASIS UINT64_C(0xcbf29ce484222325)
// The hashes of the start and end words (not the hash of any byte string we make: words
// hash from FNV_BASIS, these are fixed odd constants).
#define BOUNDARY_START UINT64_C(0x5354415254000001)
#define BOUNDARY_END UINT64_C(0x454e440000000003)

static bool is_word_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '\'' || c >= 0x80;
}
static bool is_space_byte(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0;
}

// A growable list of bucket ids.
struct keys {
    int32_t *v;
    size_t n, cap;
};
static bool keys_push(struct keys *k, int32_t b) {
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 256;
        int32_t *v = lector__realloc(k->v, cap * sizeof *v);
        if (!v) return false;
        k->v = v;
        k->cap = cap;
    }
    k->v[k->n++] = b;
    return true;
}

// The bucket ids of every n-gram of one text, with repeats, into *out (cleared first).
// word_h is scratch that grows as needed.
static bool text_keys(const struct lector_ngram_params *p, const char *text, size_t len,
                      struct keys *out, uint64_t **word_h, size_t *word_cap) {
    const unsigned char *s = (const unsigned char *)text;
    const uint64_t mask = (uint64_t)p->n_buckets;
    size_t n_words = 0;
    unsigned char lower[256];
    out->n = 0;
    for (size_t i = 0; i < len;) {
        if (is_space_byte(s[i])) {
            i++;
            continue;
        }
        size_t j = i + 1;
        if (is_word_byte(s[i]))
            while (j < len && is_word_byte(s[j])) j++;
        // Hash the lower-cased word; char n-grams look at its first 256 bytes.
        uint64_t h = FNV_BASIS;
        size_t wl = j - i, nl = 0;
        for (size_t t = i; t < j; t++) {
            unsigned char c = s[t];
            if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
            h = fnv1a(&c, 1, h);
            if (nl < sizeof lower - 2) lower[nl++] = c;
        }
        (void)wl;
        if (n_words == *word_cap) {
            size_t cap = *word_cap ? 2 * *word_cap : 64;
            uint64_t *w = lector__realloc(*word_h, cap * sizeof *w);
            if (!w) return false;
            *word_h = w;
            *word_cap = cap;
        }
        (*word_h)[n_words++] = h;
        if (p->char_max > 0) {
            // Padded word "<word>", character boundaries at UTF-8 lead bytes.
            unsigned char padded[258];
            size_t m = 0, starts[258], n_st = 0;
            padded[m++] = '<';
            memcpy(padded + m, lower, nl);
            m += nl;
            padded[m++] = '>';
            for (size_t t = 0; t < m; t++)
                if ((padded[t] & 0xC0) != 0x80) starts[n_st++] = t;
            starts[n_st] = m;
            for (int32_t L = p->char_min; L <= p->char_max; L++) {
                for (size_t a = 0; a + (size_t)L <= n_st; a++) {
                    size_t b0 = starts[a], b1 = starts[a + (size_t)L];
                    uint64_t ch = fnv1a(padded + b0, b1 - b0, FNV_BASIS ^ UINT64_C(0x63686172));
                    if (!keys_push(out, (int32_t)(mix64(ch ^ (uint64_t)L) % mask))) return false;
                }
            }
        }
        i = j;
    }
    // Word n-grams: order o combines o consecutive word hashes. With boundaries, orders
    // >= 2 also see a start word before the first word and an end word after the last
    // ("<s> how", "many </s>"): position tells a question's kind or a review's verdict.
    const size_t nb = p->boundaries && n_words > 0 ? 1 : 0;
    for (int32_t o = 1; o <= p->word_order; o++) {
        const size_t pad = o >= 2 ? nb : 0, n_seq = n_words + 2 * pad;
        for (size_t a = 0; a + (size_t)o <= n_seq; a++) {
            uint64_t h = (uint64_t)o * UINT64_C(0x9e3779b97f4a7c15);
            for (int32_t t = 0; t < o; t++) {
                const size_t q = a + (size_t)t; // position in [start?] words [end?]
                const uint64_t wh = pad && q == 0           ? BOUNDARY_START
                                    : pad && q == n_seq - 1 ? BOUNDARY_END
                                                            : (*word_h)[q - pad];
                h = mix64(h ^ wh) + (uint64_t)t;
            }
            if (!keys_push(out, (int32_t)(mix64(h) % mask))) return false;
        }
    }
    return true;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

// ---------------------------------------------------------------------------------------
// fit, load, free

static enum lector_status check_params(const struct lector_ngram_params *p,
                                       struct lector_error *err) {
    if (p->n_buckets < 2 || p->n_buckets > (INT64_C(1) << 30) || p->word_order < 0 ||
        p->word_order > 4 || p->char_min < 0 || p->char_max < 0 || p->char_max > 8 ||
        (p->char_max > 0 && (p->char_min < 1 || p->char_min > p->char_max)) ||
        (p->word_order == 0 && p->char_max == 0) || p->min_df < 1 ||
        (p->boundaries != 0 && p->boundaries != 1) || p->weighting < LECTOR_NGRAM_IDF ||
        p->weighting > LECTOR_NGRAM_IDF_NB)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "ngrams: expected 2 <= buckets <= 2^30, word order 0..4, char n-gram "
                             "lengths 1 <= min <= max <= 8 (or 0 for none), min_df >= 1, boundaries 0 or "
                             "1, a known weighting and some n-grams; got buckets=%lld, order=%d, "
                             "chars=%d..%d, min_df=%lld, weighting=%d",
                             (long long)p->n_buckets, p->word_order, p->char_min, p->char_max,
                             (long long)p->min_df, p->weighting);
    return LECTOR_STATUS_OK;
}

void lector_ngrams_free(struct lector_ngrams *ng) {
    if (!ng) return;
    lector_free(ng->col_of);
    lector_free(ng->idf);
    lector_free(ng->buckets);
    lector_free(ng);
}

static enum lector_status build_col_map(struct lector_ngrams *ng, struct lector_error *err) {
    ng->col_of = lector__malloc((size_t)ng->p.n_buckets * sizeof *ng->col_of);
    if (!ng->col_of)
        return lector__error(err, LECTOR_STATUS_NOMEM, "ngrams: cannot allocate %lld buckets",
                             (long long)ng->p.n_buckets);
    for (int64_t b = 0; b < ng->p.n_buckets; b++) ng->col_of[b] = -1;
    for (int64_t j = 0; j < ng->n_features; j++) ng->col_of[ng->buckets[j]] = (int32_t)j;
    return LECTOR_STATUS_OK;
}

// The columns and their idf (p->weighting is not read).
static enum lector_status fit_idf(const struct lector_ngram_params *p, const char *const *texts,
                                  const size_t *lens, int64_t n, struct lector_ngrams **out,
                                  struct lector_error *err) {
    *out = NULL;
    enum lector_status s = check_params(p, err);
    if (s != LECTOR_STATUS_OK) return s;
    struct lector_ngrams *ng = lector__calloc(1, sizeof *ng);
    int32_t *df = lector__calloc((size_t)p->n_buckets, sizeof *df);
    struct keys k = {0};
    uint64_t *word_h = NULL;
    size_t word_cap = 0;
    if (!ng || !df) goto nomem;
    ng->p = *p;
    for (int64_t i = 0; i < n; i++) {
        if (!text_keys(p, texts[i], lens[i], &k, &word_h, &word_cap)) goto nomem;
        if (k.n > 1) qsort(k.v, k.n, sizeof *k.v, cmp_i32); // k.v is NULL for a text without n-grams
        for (size_t t = 0; t < k.n; t++)
            if (t == 0 || k.v[t] != k.v[t - 1]) df[k.v[t]]++;
    }
    for (int64_t b = 0; b < p->n_buckets; b++) ng->n_features += df[b] >= p->min_df;
    if (ng->n_features == 0) {
        s = lector__error(err, LECTOR_STATUS_INVALID_ARG,
                          "ngrams: the training texts hold no n-gram seen in %lld or more texts",
                          (long long)p->min_df);
        goto fail;
    }
    ng->buckets = lector__malloc((size_t)ng->n_features * sizeof *ng->buckets);
    ng->idf = lector__malloc((size_t)ng->n_features * sizeof *ng->idf);
    if (!ng->buckets || !ng->idf) goto nomem;
    int64_t j = 0;
    for (int64_t b = 0; b < p->n_buckets; b++) {
        if (df[b] < p->min_df) continue;
        ng->buckets[j] = (int32_t)b;
        ng->idf[j] = (float)(log((1.0 + (double)n) / (1.0 + (double)df[b])) + 1.0);
        j++;
    }
    s = build_col_map(ng, err);
    if (s != LECTOR_STATUS_OK) goto fail;
    lector_free(word_h);
    lector_free(k.v);
    lector_free(df);
    *out = ng;
    return LECTOR_STATUS_OK;
nomem:
    s = lector__error(err, LECTOR_STATUS_NOMEM, "ngrams: out of memory fitting %lld texts",
                      (long long)n);
fail:
    lector_free(word_h);
    lector_free(k.v);
    lector_free(df);
    lector_ngrams_free(ng);
    return s;
}

enum lector_status lector_ngrams_new(const struct lector_ngram_params *p,
                                           const int32_t *buckets, const float *idf,
                                           int64_t n_features, struct lector_ngrams **out,
                                           struct lector_error *err) {
    *out = NULL;
    enum lector_status s = check_params(p, err);
    if (s != LECTOR_STATUS_OK) return s;
    if (n_features < 1)
        return lector__error(err, LECTOR_STATUS_INVALID_ARG, "ngrams: no feature columns");
    for (int64_t j = 0; j < n_features; j++)
        if (buckets[j] < 0 || buckets[j] >= p->n_buckets || (j > 0 && buckets[j] <= buckets[j - 1]) ||
            !isfinite(idf[j]))
            return lector__error_index(err, LECTOR_STATUS_FORMAT, j,
                                    "ngrams: column %lld: expected ascending buckets in [0, %lld) "
                                    "and a finite idf, got bucket %d",
                                    (long long)j, (long long)p->n_buckets, buckets[j]);
    struct lector_ngrams *ng = lector__calloc(1, sizeof *ng);
    if (!ng) return lector__error(err, LECTOR_STATUS_NOMEM, "ngrams: out of memory");
    ng->p = *p;
    ng->n_features = n_features;
    ng->buckets = lector__malloc((size_t)n_features * sizeof *ng->buckets);
    ng->idf = lector__malloc((size_t)n_features * sizeof *ng->idf);
    if (!ng->buckets || !ng->idf) {
        lector_ngrams_free(ng);
        return lector__error(err, LECTOR_STATUS_NOMEM, "ngrams: out of memory");
    }
    memcpy(ng->buckets, buckets, (size_t)n_features * sizeof *buckets);
    memcpy(ng->idf, idf, (size_t)n_features * sizeof *idf);
    s = build_col_map(ng, err);
    if (s != LECTOR_STATUS_OK) {
        lector_ngrams_free(ng);
        return s;
    }
    *out = ng;
    return LECTOR_STATUS_OK;
}

int64_t lector_ngrams_n_features(const struct lector_ngrams *ng) { return ng->n_features; }
const int32_t *lector_ngrams_buckets(const struct lector_ngrams *ng) { return ng->buckets; }
const float *lector_ngrams_idf(const struct lector_ngrams *ng) { return ng->idf; }
const struct lector_ngram_params *lector_ngrams_get_params(const struct lector_ngrams *ng) {
    return &ng->p;
}

// ---------------------------------------------------------------------------------------
// transform

enum lector_status lector_ngrams_transform(const struct lector_ngrams *ng,
                                           const char *const *texts, const size_t *lens,
                                           int64_t n, struct lector_sparse_rows *out,
                                           struct lector_error *err) {
    memset(out, 0, sizeof *out);
    struct keys k = {0};
    uint64_t *word_h = NULL;
    size_t word_cap = 0, cap = 0;
    out->n_rows = n;
    out->n_cols = ng->n_features;
    out->offsets = lector__malloc((size_t)(n + 1) * sizeof *out->offsets);
    if (!out->offsets) goto nomem;
    out->offsets[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!text_keys(&ng->p, texts[i], lens[i], &k, &word_h, &word_cap)) goto nomem;
        // Keep known buckets, as columns; sort so repeats are adjacent and columns ascend.
        size_t m = 0;
        for (size_t t = 0; t < k.n; t++) {
            int32_t c = ng->col_of[k.v[t]];
            if (c >= 0) k.v[m++] = c;
        }
        if (m > 1) qsort(k.v, m, sizeof *k.v, cmp_i32);
        int64_t base = out->offsets[i];
        size_t need = (size_t)base + m;
        if (need > cap) {
            size_t nc = cap ? cap : 1024;
            while (nc < need) nc *= 2;
            int32_t *cols = lector__realloc(out->cols, nc * sizeof *cols);
            if (!cols) goto nomem;
            out->cols = cols;
            float *vals = lector__realloc(out->vals, nc * sizeof *vals);
            if (!vals) goto nomem;
            out->vals = vals;
            cap = nc;
        }
        int64_t nz = 0;
        double norm2 = 0.0;
        for (size_t t = 0; t < m;) {
            size_t u = t + 1;
            while (u < m && k.v[u] == k.v[t]) u++;
            double tf = (double)(u - t);
            if (ng->p.sublinear_tf) tf = 1.0 + log(tf);
            double w = tf * (double)ng->idf[k.v[t]];
            out->cols[base + nz] = k.v[t];
            out->vals[base + nz] = (float)w;
            norm2 += w * w;
            nz++;
            t = u;
        }
        if (norm2 > 0.0) {
            double inv = 1.0 / sqrt(norm2);
            for (int64_t t = 0; t < nz; t++)
                out->vals[base + t] = (float)((double)out->vals[base + t] * inv);
        }
        out->offsets[i + 1] = base + nz;
    }
    lector_free(word_h);
    lector_free(k.v);
    return LECTOR_STATUS_OK;
nomem:
    lector_free(word_h);
    lector_free(k.v);
    lector_sparse_rows_free(out);
    return lector__error(err, LECTOR_STATUS_NOMEM, "ngrams: out of memory for %lld texts",
                         (long long)n);
}

// ---------------------------------------------------------------------------------------
// supervised column weights

// Naive Bayes log-count ratios (Wang and Manning, "Baselines and bigrams", 2012), one class
// against the rest: with p_c the number of training texts of class c holding column j plus
// alpha, and q_c the same over the other texts, each normalised over the columns,
// r_cj = ln(p_cj / |p_c|_1) - ln(q_cj / |q_c|_1). A column's weight is multiplied by
// max_c |r_cj|: an n-gram spread evenly over the classes fades, one that marks a class
// counts more. For two classes r_0j = -r_1j, so this is NBSVM's |r|.
#define NB_ALPHA 1.0

static enum lector_status nb_weights(struct lector_ngrams *ng, const struct lector_sparse_rows *rows,
                                     const int32_t *y, const uint8_t *Y, int64_t K,
                                     struct lector_error *err) {
    const int64_t S = ng->n_features, n = rows->n_rows;
    double *tot = lector__calloc((size_t)S, sizeof *tot);
    double *cnt = lector__malloc((size_t)S * sizeof *cnt);
    double *best = lector__calloc((size_t)S, sizeof *best);
    if (!tot || !cnt || !best) {
        lector_free(tot);
        lector_free(cnt);
        lector_free(best);
        return lector__error(err, LECTOR_STATUS_NOMEM, "ngrams: out of memory for %lld columns",
                             (long long)S);
    }
    // Presence counts: a row's columns are distinct (transform merges repeats), so the
    // presences of all rows are the stored entries.
    const double tot_sum = (double)rows->offsets[n];
    for (int64_t t = 0; t < rows->offsets[n]; t++) tot[rows->cols[t]] += 1.0;
    for (int64_t c = 0; c < K; c++) {
        memset(cnt, 0, (size_t)S * sizeof *cnt);
        double cs = 0.0;
        for (int64_t i = 0; i < n; i++) {
            if (Y ? Y[i * K + c] == 0 : y[i] != c) continue;
            for (int64_t t = rows->offsets[i]; t < rows->offsets[i + 1]; t++) cnt[rows->cols[t]] += 1.0;
            cs += (double)(rows->offsets[i + 1] - rows->offsets[i]);
        }
        double pn = NB_ALPHA * (double)S + cs, qn = NB_ALPHA * (double)S + (tot_sum - cs);
        for (int64_t j = 0; j < S; j++) {
            double r = log((NB_ALPHA + cnt[j]) / pn) - log((NB_ALPHA + tot[j] - cnt[j]) / qn);
            if (fabs(r) > best[j]) best[j] = fabs(r);
        }
    }
    for (int64_t j = 0; j < S; j++)
        ng->idf[j] = (float)(ng->p.weighting == LECTOR_NGRAM_NB ? best[j] : (double)ng->idf[j] * best[j]);
    lector_free(tot);
    lector_free(cnt);
    lector_free(best);
    return LECTOR_STATUS_OK;
}

enum lector_status lector_ngrams_fit(const struct lector_ngram_params *p,
                                             const char *const *texts, const size_t *lens,
                                             int64_t n, const int32_t *y, const uint8_t *Y,
                                             int64_t n_classes, struct lector_ngrams **out,
                                             struct lector_error *err) {
    *out = NULL;
    enum lector_status s = check_params(p, err);
    if (s != LECTOR_STATUS_OK) return s;
    if (p->weighting != LECTOR_NGRAM_IDF && (n_classes < 1 || (!y && !Y)))
        return lector__error(err, LECTOR_STATUS_INVALID_ARG,
                             "ngrams: naive Bayes weights need the training labels");
    if (!Y && p->weighting != LECTOR_NGRAM_IDF)
        for (int64_t i = 0; i < n; i++)
            if (y[i] < 0 || y[i] >= n_classes)
                return lector__error_index(err, LECTOR_STATUS_INVALID_ARG, i,
                                        "ngrams: label %d of text %lld is not in [0, %lld)", y[i],
                                        (long long)i, (long long)n_classes);
    struct lector_ngram_params unsup = *p;
    unsup.weighting = LECTOR_NGRAM_IDF;
    struct lector_ngrams *ng = NULL;
    s = fit_idf(&unsup, texts, lens, n, &ng, err);
    if (s != LECTOR_STATUS_OK || p->weighting == LECTOR_NGRAM_IDF) {
        *out = ng;
        return s;
    }
    struct lector_sparse_rows rows;
    s = lector_ngrams_transform(ng, texts, lens, n, &rows, err);
    if (s == LECTOR_STATUS_OK) {
        ng->p.weighting = p->weighting;
        s = nb_weights(ng, &rows, y, Y, n_classes, err);
        lector_sparse_rows_free(&rows);
    }
    if (s != LECTOR_STATUS_OK) {
        lector_ngrams_free(ng);
        return s;
    }
    *out = ng;
    return LECTOR_STATUS_OK;
}
