// Outputs never destroy inputs: every output path of a command is compared, before anything
// is read or written, with every input file (data, model, each file of the encoder folder,
// each file of the feature cache) and with the other outputs. See cli_check_outputs in cli.h.
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// ----------------------------------------------------------------------------
// identities

// What names a file: device and inode when it exists; for an output not yet there, the
// resolved parent directory's device and inode plus the last component.
struct ident {
    bool exists;
    dev_t dev;
    ino_t ino;
    const char *base; // !exists: the last path component
};

static const char *last_part(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static bool parent_ident(const char *path, struct ident *id) {
    const char *base = last_part(path);
    char dir[PATH_MAX];
    size_t n = (size_t)(base - path);
    if (n == 0) {
        strcpy(dir, ".");
    } else {
        if (n >= sizeof dir) return false;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    struct stat st;
    if (stat(dir, &st) != 0) return false;
    id->exists = false;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    id->base = base;
    return true;
}

static bool same_ident(const struct ident *a, const struct ident *b) {
    if (a->exists != b->exists || a->dev != b->dev || a->ino != b->ino) return false;
    return a->exists || !strcmp(a->base, b->base);
}

// ----------------------------------------------------------------------------
// inputs

// Does path (an input; a symbolic link is followed) hold the output file out?
static bool input_is(const char *path, const struct ident *out) {
    struct stat st;
    return out->exists && stat(path, &st) == 0 && st.st_dev == out->dev && st.st_ino == out->ino;
}

// The first file under dir (depth at most 3; links followed) that is the output out: its path
// in found. Encoder folders from the Hugging Face hub are links into a blob store, which is
// why links are followed here (never for outputs).
static bool dir_holds(const char *dir, const struct ident *out, int depth, char *found, size_t cap) {
    if (!out->exists || depth > 3) return false;
    DIR *d = opendir(dir);
    if (!d) return false;
    bool hit = false;
    struct dirent *e;
    while (!hit && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[PATH_MAX];
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= sizeof p) continue;
        struct stat st;
        if (stat(p, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            hit = dir_holds(p, out, depth + 1, found, cap);
        } else if (st.st_dev == out->dev && st.st_ino == out->ino) {
            snprintf(found, cap, "%s", p);
            hit = true;
        }
    }
    closedir(d);
    return hit;
}

// ----------------------------------------------------------------------------
// the check

static int refuse(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(const char *cmd, const char *fmt, ...) {
    char msg[3 * PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cli_error("%s: %s", cmd, msg);
    return CLI_USAGE;
}

int cli_check_outputs(const struct cli_io *io) {
    struct ident ids[CLI_IO_MAX];
    bool known[CLI_IO_MAX] = {false};
    for (int i = 0; i < io->n_out; i++) {
        const char *opt = io->out[i].opt, *path = io->out[i].path;
        if (!path || !strcmp(path, "-")) continue; // stdout
        if (!*path) return refuse(io->cmd, "%s: an empty path", opt);
        struct stat st;
        if (lstat(path, &st) == 0) {
            if (S_ISLNK(st.st_mode))
                return refuse(io->cmd,
                              "%s %s is a symbolic link; lector does not replace links nor write "
                              "through them: give the path of the file itself",
                              opt, path);
            if (!S_ISREG(st.st_mode))
                return refuse(io->cmd,
                              "%s %s exists and is not a regular file (a directory, FIFO, device "
                              "or socket); lector replaces only regular files",
                              opt, path);
            ids[i] = (struct ident){true, st.st_dev, st.st_ino, NULL};
        } else if (errno != ENOENT || !parent_ident(path, &ids[i])) {
            continue; // a missing or unreadable folder: the write itself reports it
        }
        known[i] = true;
        for (int j = 0; j < i; j++)
            if (known[j] && same_ident(&ids[i], &ids[j]))
                return refuse(io->cmd, "%s %s and %s %s are the same file", opt, path,
                              io->out[j].opt, io->out[j].path);
        for (int j = 0; j < io->n_in; j++)
            if (io->in[j].path && input_is(io->in[j].path, &ids[i]))
                return refuse(io->cmd, "%s %s is the same file as the input %s %s", opt, path,
                              io->in[j].opt, io->in[j].path);
        char found[PATH_MAX];
        for (int j = 0; j < io->n_dir; j++)
            if (io->dir[j].path && dir_holds(io->dir[j].path, &ids[i], 0, found, sizeof found))
                return refuse(io->cmd, "%s %s is the input file %s (under %s)", opt, path, found,
                              io->dir[j].opt);
    }
    return CLI_OK;
}
