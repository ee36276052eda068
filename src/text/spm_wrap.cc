// The C interface of include/lector/spm.h over libsentencepiece. This is the project's only
// C++ file: it turns util::Status into struct lector_error and stops every exception at the
// boundary, so that C callers only ever see a status code.
#include "lector/spm.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include <sentencepiece_processor.h>

// From src/base/base_impl.h, which is a C header: memory handed to the caller must come from
// the allocator lector_free releases.
extern "C" void *lector__malloc(size_t n);

struct lector_spm {
    sentencepiece::SentencePieceProcessor proc;
    int n_pieces = 0;
};

namespace {

// ---------------------------------------------------------------------------------------------
// errors

enum lector_status set_error(struct lector_error *err, enum lector_status code, const char *fmt,
                             ...) {
    if (err) {
        err->code = code;
        err->path[0] = '\0';
        err->line = err->column = err->offset = err->index = -1;
        va_list ap;
        va_start(ap, fmt);
        std::vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

// SentencePiece's status code as ours. Loading a model fails with kInternal or
// kInvalidArgument when the bytes are not a valid ModelProto: that is a bad file (FORMAT).
enum lector_status status_of(sentencepiece::util::StatusCode code, bool loading) {
    using sentencepiece::util::StatusCode;
    switch (code) {
    case StatusCode::kOk: return LECTOR_STATUS_OK;
    case StatusCode::kNotFound: return LECTOR_STATUS_NOT_FOUND;
    case StatusCode::kPermissionDenied: return LECTOR_STATUS_IO;
    case StatusCode::kResourceExhausted: return LECTOR_STATUS_NOMEM;
    case StatusCode::kUnimplemented: return LECTOR_STATUS_UNSUPPORTED;
    case StatusCode::kOutOfRange: return LECTOR_STATUS_RANGE;
    case StatusCode::kInvalidArgument:
        return loading ? LECTOR_STATUS_FORMAT : LECTOR_STATUS_INVALID_ARG;
    default: return loading ? LECTOR_STATUS_FORMAT : LECTOR_STATUS_INTERNAL;
    }
}

enum lector_status from_status(const sentencepiece::util::Status &s, bool loading,
                               const char *what, const char *origin, struct lector_error *err) {
    const char *msg = s.error_message();
    return set_error(err, status_of(s.code(), loading), "%s: %s failed: %s (sentencepiece code %d)",
                     origin, what, msg && *msg ? msg : "no message", static_cast<int>(s.code()));
}

enum lector_status caught(const char *where, const char *what, struct lector_error *err) {
    return set_error(err, LECTOR_STATUS_INTERNAL, "%s: sentencepiece threw an exception (%s)",
                     where, what);
}

// Check a freshly loaded model before anything indexes it: the getters below assume at
// least one piece.
enum lector_status finish_open(lector_spm *spm, const char *origin, struct lector_error *err) {
    spm->n_pieces = spm->proc.GetPieceSize();
    if (spm->n_pieces <= 0)
        return set_error(err, LECTOR_STATUS_FORMAT,
                         "%s: expected a SentencePiece model with pieces, found %d pieces", origin,
                         spm->n_pieces);
    return LECTOR_STATUS_OK;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// entry points

// The body shared by both opens: allocate, load with `load`, check, and turn every failure
// (a bad Status or any exception) into a lector_error. name is the file or origin for messages.
template <typename Load>
static enum lector_status open_with(const char *name, struct lector_spm **out, struct lector_error *err,
                                    Load load) {
    lector_spm *spm = nullptr;
    try {
        spm = new lector_spm();
        sentencepiece::util::Status s = load(spm);
        enum lector_status st = s.ok() ? finish_open(spm, name, err)
                                       : from_status(s, true, "loading the model", name, err);
        if (st != LECTOR_STATUS_OK) {
            delete spm;
            return st;
        }
        *out = spm;
        return LECTOR_STATUS_OK;
    } catch (const std::bad_alloc &) {
        delete spm;
        return set_error(err, LECTOR_STATUS_NOMEM, "%s: out of memory loading the model", name);
    } catch (const std::exception &e) {
        delete spm;
        return caught(name, e.what(), err);
    } catch (...) {
        delete spm;
        return caught(name, "unknown exception", err);
    }
}

extern "C" enum lector_status lector_spm_open(const char *path, struct lector_spm **out,
                                              struct lector_error *err) {
    if (out) *out = nullptr;
    if (!path || !out)
        return set_error(err, LECTOR_STATUS_INVALID_ARG,
                         "lector_spm_open: path and out must not be NULL");
    return open_with(path, out, err, [path](lector_spm *spm) { return spm->proc.Load(path); });
}

extern "C" enum lector_status lector_spm_open_memory(const void *data, size_t n,
                                                     const char *origin,
                                                     struct lector_spm **out,
                                                     struct lector_error *err) {
    if (out) *out = nullptr;
    if (!origin) origin = "sentencepiece model";
    if ((!data && n > 0) || !out)
        return set_error(err, LECTOR_STATUS_INVALID_ARG,
                         "lector_spm_open_memory: data and out must not be NULL");
    std::string_view bytes(static_cast<const char *>(data ? data : ""), n);
    return open_with(origin, out, err,
                     [bytes](lector_spm *spm) { return spm->proc.LoadFromSerializedProto(bytes); });
}

extern "C" void lector_spm_close(struct lector_spm *spm) {
    try {
        delete spm;
    } catch (...) {
        // A destructor that throws has nowhere to report to; the memory is lost at worst.
    }
}

extern "C" enum lector_status lector_spm_encode(const struct lector_spm *spm, const char *text,
                                                size_t len, int32_t **ids, int64_t *n_ids,
                                                struct lector_error *err) {
    if (ids) *ids = nullptr;
    if (n_ids) *n_ids = 0;
    if (!spm || (!text && len > 0) || !ids || !n_ids)
        return set_error(err, LECTOR_STATUS_INVALID_ARG,
                         "lector_spm_encode: spm, text, ids and n_ids must not be NULL");
    try {
        std::vector<int> v;
        sentencepiece::util::Status s =
            spm->proc.Encode(std::string_view(text ? text : "", len), &v);
        if (!s.ok()) return from_status(s, false, "encode", "sentencepiece", err);
        if (v.empty()) return LECTOR_STATUS_OK;
        int32_t *out = static_cast<int32_t *>(lector__malloc(v.size() * sizeof(int32_t)));
        if (!out)
            return set_error(err, LECTOR_STATUS_NOMEM, "sentencepiece: out of memory for %zu ids",
                             v.size());
        for (size_t i = 0; i < v.size(); i++) out[i] = static_cast<int32_t>(v[i]);
        *ids = out;
        *n_ids = static_cast<int64_t>(v.size());
        return LECTOR_STATUS_OK;
    } catch (const std::bad_alloc &) {
        return set_error(err, LECTOR_STATUS_NOMEM, "sentencepiece: out of memory encoding %zu bytes",
                         len);
    } catch (const std::exception &e) {
        return caught("sentencepiece encode", e.what(), err);
    } catch (...) {
        return caught("sentencepiece encode", "unknown exception", err);
    }
}

extern "C" int64_t lector_spm_n_pieces(const struct lector_spm *spm) {
    return spm ? spm->n_pieces : 0;
}

extern "C" const char *lector_spm_piece(const struct lector_spm *spm, int32_t id) {
    if (!spm || id < 0 || id >= spm->n_pieces) return nullptr;
    try {
        // IdToPiece returns a reference into the loaded ModelProto, which lives as long as spm.
        return spm->proc.IdToPiece(id).c_str();
    } catch (...) {
        return nullptr;
    }
}

extern "C" int32_t lector_spm_find(const struct lector_spm *spm, const char *piece, size_t len) {
    if (!spm || (!piece && len > 0)) return -1;
    try {
        std::string_view key(piece ? piece : "", len);
        int id = spm->proc.PieceToId(key);
        // PieceToId answers <unk>'s id for a string it does not know.
        if (id < 0 || id >= spm->n_pieces || spm->proc.IdToPiece(id) != key) return -1;
        return static_cast<int32_t>(id);
    } catch (...) {
        return -1;
    }
}

extern "C" enum lector_spm_piece_type lector_spm_piece_type(const struct lector_spm *spm,
                                                            int32_t id) {
    if (!spm || id < 0 || id >= spm->n_pieces) return LECTOR_SPM_PIECE_INVALID;
    try {
        if (spm->proc.IsUnknown(id)) return LECTOR_SPM_PIECE_UNKNOWN;
        if (spm->proc.IsControl(id)) return LECTOR_SPM_PIECE_CONTROL;
        if (spm->proc.IsUnused(id)) return LECTOR_SPM_PIECE_UNUSED;
        if (spm->proc.IsByte(id)) return LECTOR_SPM_PIECE_BYTE;
        return LECTOR_SPM_PIECE_NORMAL;
    } catch (...) {
        return LECTOR_SPM_PIECE_INVALID;
    }
}

namespace {
int32_t checked_id(const lector_spm *spm, int id) {
    return id >= 0 && id < spm->n_pieces ? static_cast<int32_t>(id) : -1;
}

// A special id the model reports through get, or -1 (no model, no such piece, an exception).
template <typename Get>
int32_t special_id(const lector_spm *spm, Get get) {
    try {
        return spm ? checked_id(spm, get(spm)) : -1;
    } catch (...) {
        return -1;
    }
}
}  // namespace

extern "C" int32_t lector_spm_unk_id(const struct lector_spm *spm) {
    return special_id(spm, [](const lector_spm *m) { return m->proc.unk_id(); });
}
extern "C" int32_t lector_spm_bos_id(const struct lector_spm *spm) {
    return special_id(spm, [](const lector_spm *m) { return m->proc.bos_id(); });
}
extern "C" int32_t lector_spm_eos_id(const struct lector_spm *spm) {
    return special_id(spm, [](const lector_spm *m) { return m->proc.eos_id(); });
}
extern "C" int32_t lector_spm_pad_id(const struct lector_spm *spm) {
    return special_id(spm, [](const lector_spm *m) { return m->proc.pad_id(); });
}
