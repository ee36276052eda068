// The vocab/ folder of standard tokenizer vocabularies: where it is at run time, a NAME or
// DIR given to --vocab, and which of its vocabularies an encoder folder carries byte for byte.
//
// vocab/ is found, first match wins: $LECTOR_VOCAB_DIR (then only there); the installed
// prefix, <bindir>/../share/lector/vocab beside the running executable; the configured
// install location; the source tree the executable was built from.
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "base/base_impl.h"

// The files that make a vocabulary, in the order they are compared.
static const char *const vocab_files[] = {"vocab.txt", "vocab.json", "merges.txt", "spiece.model"};
enum { N_VOCAB_FILES = sizeof vocab_files / sizeof vocab_files[0] };

static bool is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

// Append path to a ", "-separated list.
static void note_tried(char *tried, size_t n, const char *path) {
    if (!tried || n == 0) return;
    size_t used = strlen(tried);
    snprintf(tried + used, n - used, "%s%s", used ? ", " : "", path);
}

const char *cli_vocab_root(char *tried, size_t n_tried) {
    static char found[PATH_MAX];
    if (tried && n_tried) tried[0] = '\0';
    const char *env = getenv("LECTOR_VOCAB_DIR");
    if (env && *env) {
        note_tried(tried, n_tried, env);
        if (!is_dir(env)) return NULL;
        snprintf(found, sizeof found, "%s", env);
        return found;
    }
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            int m = snprintf(found, sizeof found, "%s/../share/lector/vocab", exe);
            if (m > 0 && (size_t)m < sizeof found) {
                note_tried(tried, n_tried, found);
                if (is_dir(found)) return found;
            }
        }
    }
    static const char *const builtin[] = {
#ifdef LECTOR_INSTALL_VOCAB_DIR
        LECTOR_INSTALL_VOCAB_DIR,
#endif
#ifdef LECTOR_SOURCE_VOCAB_DIR
        LECTOR_SOURCE_VOCAB_DIR,
#endif
        NULL};
    for (int i = 0; builtin[i]; i++) {
        note_tried(tried, n_tried, builtin[i]);
        if (is_dir(builtin[i])) {
            snprintf(found, sizeof found, "%s", builtin[i]);
            return found;
        }
    }
    return NULL;
}

// "a, b, c": the vocabulary names under root.
static void list_names(const char *root, char *out, size_t n) {
    out[0] = '\0';
    struct dirent **ents = NULL;
    int m = scandir(root, &ents, NULL, alphasort);
    for (int i = 0; i < m; i++) {
        char sub[PATH_MAX];
        int k = snprintf(sub, sizeof sub, "%s/%s", root, ents[i]->d_name);
        if (k > 0 && (size_t)k < sizeof sub && ents[i]->d_name[0] != '.' && is_dir(sub)) note_tried(out, n, ents[i]->d_name);
        free(ents[i]);
    }
    free(ents);
}

int cli_vocab_resolve(const char *cmd, const char *value, char *out, size_t n) {
    // A folder named directly (it has a '/' or exists here).
    if (strchr(value, '/') || is_dir(value)) {
        if (!is_dir(value)) return cli_usage(cmd, "--vocab %s: no such directory", value);
        snprintf(out, n, "%s", value);
        return CLI_OK;
    }
    char tried[2048];
    const char *root = cli_vocab_root(tried, sizeof tried);
    if (!root)
        return cli_error("--vocab %s: the vocab/ folder was not found (tried %s); set "
                         "LECTOR_VOCAB_DIR to it, or give --vocab DIR",
                         value, tried);
    snprintf(out, n, "%s/%s", root, value);
    if (!is_dir(out)) {
        char names[1024];
        list_names(root, names, sizeof names);
        return cli_usage(cmd, "--vocab %s: not in %s (there: %s)", value, root, names);
    }
    return CLI_OK;
}

// The SHA-256 of a file as hex, or false when it cannot be read.
static bool file_sha256(const char *path, char hex[65]) {
    struct lector__sha256 s;
    lector__sha256_init(&s);
    if (lector__sha256_file(&s, path, NULL) != LECTOR_STATUS_OK) return false;
    uint8_t d[32];
    lector__sha256_final(&s, d);
    lector__sha256_hex(d, hex);
    return true;
}

// Every vocabulary file of vocab/NAME is in dir with the same bytes (at least one file).
static bool same_vocab(const char *vdir, const char *dir) {
    int n_same = 0;
    for (int f = 0; f < N_VOCAB_FILES; f++) {
        char a[PATH_MAX], b[PATH_MAX], ha[65], hb[65];
        int ka = snprintf(a, sizeof a, "%s/%s", vdir, vocab_files[f]);
        if (ka < 0 || (size_t)ka >= sizeof a || !is_file(a)) continue;
        int kb = snprintf(b, sizeof b, "%s/%s", dir, vocab_files[f]);
        if (kb < 0 || (size_t)kb >= sizeof b || !is_file(b) || !file_sha256(a, ha) || !file_sha256(b, hb) || strcmp(ha, hb) != 0) return false;
        n_same++;
    }
    return n_same > 0;
}

bool cli_vocab_match(const char *dir, char *name, size_t n) {
    name[0] = '\0';
    const char *root = cli_vocab_root(NULL, 0);
    if (!root || !dir) return false;
    struct dirent **ents = NULL;
    int m = scandir(root, &ents, NULL, alphasort);
    for (int i = 0; i < m; i++) {
        char sub[PATH_MAX];
        int k = snprintf(sub, sizeof sub, "%s/%s", root, ents[i]->d_name);
        if (k > 0 && (size_t)k < sizeof sub && !name[0] && ents[i]->d_name[0] != '.' && is_dir(sub) && same_vocab(sub, dir))
            snprintf(name, n, "%s", ents[i]->d_name);
        free(ents[i]);
    }
    free(ents);
    return name[0] != '\0';
}
