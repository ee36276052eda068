// The HTML evaluation report: inline SVG charts written into one self-contained file.
#define _POSIX_C_SOURCE 200809L
#include "cli/report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"

// A growable string buffer.
struct sbuf {
    char *s;
    size_t n, cap;
    bool oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1 << 14;
        while (cap < b->n + n + 1) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        sb_put(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_put(b, big, (size_t)n);
    free(big);
}

#define SB_LIT(b, lit) sb_put((b), (lit), sizeof(lit) - 1)

// Text content with the five HTML special characters escaped.
static void sb_text(struct sbuf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': SB_LIT(b, "&amp;"); break;
        case '<': SB_LIT(b, "&lt;"); break;
        case '>': SB_LIT(b, "&gt;"); break;
        case '"': SB_LIT(b, "&quot;"); break;
        case '\'': SB_LIT(b, "&#39;"); break;
        default: sb_put(b, s, 1);
        }
    }
}

// White (0) to dark blue (1).
static void heat_color(double v, char out[8]) {
    if (!(v >= 0)) v = 0;
    if (v > 1) v = 1;
    int r = (int)lround(247 - v * (247 - 8)), g = (int)lround(251 - v * (251 - 69)),
        bl = (int)lround(255 - v * (255 - 148));
    snprintf(out, 8, "#%02x%02x%02x", r, g, bl);
}

static void confusion_svg(struct sbuf *b, const struct cli_report *r) {
    const struct lector_metrics *m = r->metrics;
    const int64_t K = m->n_classes;
    const int cell = K <= 8 ? 56 : K <= 20 ? 28 : 14, left = 120, top = 30;
    const int w = left + (int)K * cell + 20 > 520 ? left + (int)K * cell + 20 : 520, h = top + (int)K * cell + 60;
    sb_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\" "
                 "aria-label=\"confusion matrix\">\n", w, h);
    for (int64_t i = 0; i < K; i++) {
        int64_t row = 0;
        for (int64_t j = 0; j < K; j++) row += m->confusion[i * K + j];
        for (int64_t j = 0; j < K; j++) {
            int64_t v = m->confusion[i * K + j];
            double frac = row ? (double)v / (double)row : 0.0;
            char col[8];
            heat_color(frac, col);
            int x = left + (int)j * cell, y = top + (int)i * cell;
            sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" stroke=\"#ccc\"><title>",
                      x, y, cell, cell, col);
            sb_text(b, r->labels[i]);
            SB_LIT(b, " as ");
            sb_text(b, r->labels[j]);
            sb_printf(b, ": %lld (%.1f%% of the row)</title></rect>\n", (long long)v, 100.0 * frac);
            if (cell >= 28)
                sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"%d\" fill=\"%s\">%lld</text>\n",
                          x + cell / 2, y + cell / 2 + 4, cell >= 56 ? 13 : 9, frac > 0.5 ? "#fff" : "#222",
                          (long long)v);
        }
        sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"12\">", left - 6,
                  top + (int)i * cell + cell / 2 + 4);
        sb_text(b, r->labels[i]);
        SB_LIT(b, "</text>\n");
    }
    for (int64_t j = 0; j < K; j++) {
        int x = left + (int)j * cell + cell / 2, y = top + (int)K * cell + 14;
        sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"12\" transform=\"rotate(-35 %d %d)\">", x,
                  y, x, y);
        sb_text(b, r->labels[j]);
        SB_LIT(b, "</text>\n");
    }
    sb_printf(b, "<text x=\"%d\" y=\"16\" font-size=\"12\" fill=\"#555\">rows: true label, columns: predicted; "
                 "shade: share of the row</text>\n</svg>\n", left);
}

static void bars_svg(struct sbuf *b, const struct cli_report *r) {
    const struct lector_metrics *m = r->metrics;
    const int64_t K = m->n_classes;
    const int group = 3 * 14 + 16, left = 40, top = 20, ph = 180;
    const int w = left + (int)K * group + 140, h = top + ph + 70;
    static const char *names[] = {"precision", "recall", "F1"};
    static const char *colors[] = {"#4c78a8", "#f58518", "#54a24b"};
    sb_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\" "
                 "aria-label=\"per-class scores\">\n", w, h);
    for (int t = 0; t <= 4; t++) {
        int y = top + ph - t * ph / 4;
        sb_printf(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>"
                     "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"10\">%.2f</text>\n",
                  left, left + (int)K * group, y, y, left - 4, y + 3, t / 4.0);
    }
    for (int64_t k = 0; k < K; k++) {
        const double v[3] = {m->precision[k], m->recall[k], m->f1[k]};
        for (int s = 0; s < 3; s++) {
            int bh = (int)lround(v[s] * ph), x = left + (int)k * group + s * 14 + 8;
            sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"%d\" fill=\"%s\"><title>", x, top + ph - bh,
                      bh, colors[s]);
            sb_text(b, r->labels[k]);
            sb_printf(b, " %s %.4f</title></rect>\n", names[s], v[s]);
        }
        int x = left + (int)k * group + group / 2, y = top + ph + 14;
        sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"11\" transform=\"rotate(-35 %d %d)\">", x,
                  y, x, y);
        sb_text(b, r->labels[k]);
        SB_LIT(b, "</text>\n");
    }
    for (int s = 0; s < 3; s++)
        sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"%d\" "
                     "font-size=\"11\">%s</text>\n",
                  left + (int)K * group + 20, top + 10 + s * 16, colors[s], left + (int)K * group + 34,
                  top + 19 + s * 16, names[s]);
    SB_LIT(b, "</svg>\n");
}

// Reliability diagram: accuracy per confidence bin against the diagonal. Returns the ECE.
static double reliability_svg(struct sbuf *b, const struct cli_report *r) {
    enum { BINS = 15 }; // the same bins as lector_metrics' expected calibration error
    int64_t cnt[BINS] = {0}, hit[BINS] = {0};
    double conf_sum[BINS] = {0};
    for (int64_t i = 0; i < r->n; i++) {
        double c = (double)r->confidence[i];
        int bin = (int)(c * BINS);
        if (bin >= BINS) bin = BINS - 1;
        if (bin < 0) bin = 0;
        cnt[bin]++;
        conf_sum[bin] += c;
        hit[bin] += r->y_true[i] == r->y_pred[i];
    }
    double ece = 0.0;
    const int left = 40, top = 20, size = 220;
    sb_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\" "
                 "aria-label=\"reliability diagram\">\n", left + size + 30, top + size + 40);
    sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>\n"
                 "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n",
              left, top, size, size, left, top + size, left + size, top);
    for (int k = 0; k < BINS; k++) {
        if (!cnt[k]) continue;
        double acc = (double)hit[k] / (double)cnt[k], conf = conf_sum[k] / (double)cnt[k];
        ece += (double)cnt[k] / (double)r->n * fabs(acc - conf);
        int x = left + k * size / BINS, bw = size / BINS - 2, bh = (int)lround(acc * size);
        sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#4c78a8\" fill-opacity=\"0.8\">"
                     "<title>confidence %.1f-%.1f: accuracy %.3f, mean confidence %.3f, %lld examples</title></rect>\n",
                  x + 1, top + size - bh, bw, bh, k / (double)BINS, (k + 1) / (double)BINS, acc, conf, (long long)cnt[k]);
    }
    sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\">confidence of the predicted label</text>\n"
                 "<text x=\"12\" y=\"%d\" font-size=\"11\" transform=\"rotate(-90 12 %d)\" text-anchor=\"middle\">accuracy</text>\n"
                 "</svg>\n",
              left + size / 2, top + size + 28, top + size / 2, top + size / 2);
    return ece;
}

static void curves_svg(struct sbuf *b, json_t *hist) {
    const size_t n = json_array_size(hist);
    const int left = 44, top = 20, pw = 360, ph = 180;
    double loss_max = 1e-9;
    for (size_t i = 0; i < n; i++) {
        double l = json_number_value(json_object_get(json_array_get(hist, i), "train_loss"));
        if (l > loss_max) loss_max = l;
    }
    sb_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\" "
                 "aria-label=\"training curves\">\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                 "stroke=\"#999\"/>\n",
              left + pw + 260, top + ph + 40, left, top, pw, ph);
    static const char *keys[] = {"train_loss", "valid_accuracy"};
    static const char *colors[] = {"#e45756", "#4c78a8"};
    static const char *names[] = {"train loss (scaled to its maximum)", "validation accuracy"};
    for (int s = 0; s < 2; s++) {
        sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colors[s]);
        for (size_t i = 0; i < n; i++) {
            json_t *v = json_object_get(json_array_get(hist, i), keys[s]);
            if (!json_is_number(v) || json_number_value(v) < 0) continue;
            double y = json_number_value(v) / (s == 0 ? loss_max : 1.0);
            double x = n > 1 ? (double)i / (double)(n - 1) : 0.5;
            sb_printf(b, "%.1f,%.1f ", left + x * pw, top + ph - y * ph);
        }
        SB_LIT(b, "\"/>\n");
        sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"%d\" "
                     "font-size=\"11\">%s</text>\n",
                  left + pw + 10, top + 10 + s * 16, colors[s], left + pw + 24, top + 19 + s * 16, names[s]);
    }
    sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\">epoch 1 to %zu</text>\n</svg>\n",
              left + pw / 2, top + ph + 28, n);
}

enum lector_status cli_report_write(const char *path, const struct cli_report *r, struct lector_error *err) {
    const struct lector_metrics *m = r->metrics;
    struct sbuf b = {0};
    SB_LIT(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>lector report: ");
    sb_text(&b, r->title ? r->title : "evaluation");
    SB_LIT(&b, "</title>\n<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
               "td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}th:first-child,td:first-child"
               "{text-align:left}section{margin-bottom:2em}</style></head><body>\n<h1>");
    sb_text(&b, r->title ? r->title : "evaluation");
    sb_printf(&b, "</h1>\n<p>%lld examples &middot; accuracy <b>%.4f</b> &middot; macro-F1 <b>%.4f</b>", (long long)m->n,
              m->accuracy, m->macro_f1);
    struct sbuf rel = {0};
    if (r->confidence && r->n > 0) {
        double ece = reliability_svg(&rel, r);
        if (m->ece >= 0) ece = m->ece;
        sb_printf(&b, " &middot; expected calibration error <b>%.4f</b>", ece);
    }
    SB_LIT(&b, "</p>\n<section><h2>Confusion matrix</h2>\n");
    confusion_svg(&b, r);
    SB_LIT(&b, "</section>\n<section><h2>Per-class scores</h2>\n");
    bars_svg(&b, r);
    SB_LIT(&b, "<table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>\n");
    for (int64_t k = 0; k < m->n_classes; k++) {
        SB_LIT(&b, "<tr><td>");
        sb_text(&b, r->labels[k]);
        sb_printf(&b, "</td><td>%.4f</td><td>%.4f</td><td>%.4f</td><td>%lld</td></tr>\n", m->precision[k],
                  m->recall[k], m->f1[k], (long long)m->support[k]);
    }
    SB_LIT(&b, "</table></section>\n");
    if (rel.s) {
        SB_LIT(&b, "<section><h2>Reliability</h2>\n<p>Bars: accuracy of the predictions in each confidence bin; "
                   "dashed: perfect calibration.</p>\n");
        sb_put(&b, rel.s, rel.n);
        SB_LIT(&b, "</section>\n");
    }
    free(rel.s);
    json_t *hist = r->history_json ? json_loads(r->history_json, 0, NULL) : NULL;
    if (json_is_array(hist) && json_array_size(hist) > 0) {
        SB_LIT(&b, "<section><h2>Training</h2>\n");
        curves_svg(&b, hist);
        SB_LIT(&b, "</section>\n");
    }
    json_decref(hist);
    SB_LIT(&b, "</body></html>\n");
    enum lector_status s = LECTOR_STATUS_NOMEM;
    if (b.oom) {
        err->code = s;
        snprintf(err->msg, sizeof err->msg, "%s: out of memory building the report", path);
    } else if (!strcmp(path, "-")) { // stdout
        cli_out(b.s, b.n);
        cli_flush();
        s = LECTOR_STATUS_OK;
    } else {
        s = lector_write_file_atomic(path, b.s, b.n, err);
    }
    free(b.s);
    return s;
}

int cli_report_write_eval(const char *path, const char *title, const struct lector_eval_report *rep) {
    // Multi-label models have no single predicted class per text: no reliability diagram.
    const float *probs = rep->multi_label ? NULL : rep->probs;
    const int32_t *y_true = rep->multi_label ? NULL : rep->y;
    const int64_t n = rep->n, K = rep->n_labels;
    const struct lector_metrics *m = &rep->metrics;
    float *conf = NULL;
    int32_t *pred = NULL;
    if (probs && y_true && n > 0) {
        conf = malloc((size_t)n * sizeof *conf);
        pred = malloc((size_t)n * sizeof *pred);
        if (!conf || !pred) {
            free(conf);
            free(pred);
            return cli_error("%s: out of memory", path);
        }
        for (int64_t i = 0; i < n; i++) {
            int64_t best = 0;
            for (int64_t k = 1; k < K; k++)
                if (probs[i * K + k] > probs[i * K + best]) best = k;
            pred[i] = (int32_t)best;
            conf[i] = probs[i * K + best];
        }
    }
    struct cli_report r = {title, (const char *const *)rep->labels, m, conf, y_true, pred, conf ? n : 0,
                           rep->history_json};
    struct lector_error err;
    enum lector_status s = cli_report_write(path, &r, &err);
    free(conf);
    free(pred);
    if (s != LECTOR_STATUS_OK) return cli_lib_error(&err);
    cli_info("wrote %s", path);
    return CLI_OK;
}
