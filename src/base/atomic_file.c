// Atomic file writes: temp file in the target directory, fsync, rename, fsync the directory.
#define _POSIX_C_SOURCE 200809L
#include "base/base_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return lector__strdup(".");
    if (slash == path) return lector__strdup("/");
    return lector__strndup(path, (size_t)(slash - path));
}

// ----------------------------------------------------------------------------
// leftovers of killed writers

// A writer killed between open and rename (SIGKILL, power loss) leaves "<name>.tmp.<pid>".
// Before writing <name>, such files are removed when all of these hold: the name is exactly
// <name>.tmp.<digits>, the pid is not ours and no process of that pid runs here (kill(pid, 0)
// fails with ESRCH), the file is a regular file (never a link) owned by us, and it was last
// modified over STALE_SECONDS ago, so a writer on another host sharing the folder (whose pid
// means nothing here) is never disturbed in the middle of its write.
#define STALE_SECONDS (10 * 60)

static bool stale_pid(const char *digits) {
    if (!*digits || strlen(digits) > 9) return false;
    for (const char *p = digits; *p; p++)
        if (*p < '0' || *p > '9') return false;
    long pid = strtol(digits, NULL, 10);
    if (pid <= 0 || pid == (long)getpid()) return false;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static void remove_stale(const char *path) {
    char *dir = dir_of(path);
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    size_t nb = strlen(base);
    DIR *d = dir ? opendir(dir) : NULL;
    free(dir);
    if (!d) return;
    const time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, base, nb) != 0 || strncmp(e->d_name + nb, ".tmp.", 5) != 0 ||
            !stale_pid(e->d_name + nb + 5))
            continue;
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode) ||
            sb.st_uid != geteuid() || now - sb.st_mtime < STALE_SECONDS)
            continue;
        (void)unlinkat(dirfd(d), e->d_name, 0); // best effort: another cleaner may have won
    }
    closedir(d);
}

// ----------------------------------------------------------------------------
// the write

enum lector_status lector__afile_open(struct lector__afile *af, const char *path,
                                      struct lector_error *err) {
    memset(af, 0, sizeof *af);
    // The rename replaces whatever is at path: only a regular file may be replaced, never a
    // device node, a FIFO, a directory or a symbolic link (which would become a plain file).
    struct stat sb;
    if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return lector__error(err, LECTOR_STATUS_IO,
                             "%s: exists and is not a regular file (%s); not replaced", path,
                             S_ISLNK(sb.st_mode)    ? "a symbolic link"
                             : S_ISDIR(sb.st_mode)  ? "a directory"
                             : S_ISFIFO(sb.st_mode) ? "a FIFO"
                             : S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? "a device"
                                                                          : "a socket");
    size_t n = strlen(path) + 32;
    af->path = lector__strdup(path);
    af->tmp_path = lector__malloc(n);
    if (!af->path || !af->tmp_path) {
        lector__afile_abort(af);
        return lector__error(err, LECTOR_STATUS_NOMEM, "%s: out of memory", path);
    }
    remove_stale(path);
    snprintf(af->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    // O_EXCL: never follow or clobber a file someone else put at the temp name.
    int fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) {
        unlink(af->tmp_path); // a leftover of our own pid from a crashed run
        fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (fd < 0) {
        int e = errno;
        enum lector_status st = lector__error(err, LECTOR_STATUS_IO, "%s: cannot create: %s",
                                              af->tmp_path, strerror(e));
        free(af->path);
        free(af->tmp_path);
        memset(af, 0, sizeof *af);
        return st;
    }
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        int e = errno;
        close(fd);
        unlink(af->tmp_path);
        enum lector_status st =
            lector__error(err, LECTOR_STATUS_IO, "%s: fdopen: %s", af->tmp_path, strerror(e));
        free(af->path);
        free(af->tmp_path);
        memset(af, 0, sizeof *af);
        return st;
    }
    return LECTOR_STATUS_OK;
}

enum lector_status lector__afile_write(struct lector__afile *af, const void *data, size_t n,
                                       struct lector_error *err) {
    if (!af->fp || af->failed)
        return lector__error(err, LECTOR_STATUS_IO, "write to a failed or closed file");
    if (n && fwrite(data, 1, n, af->fp) != n) {
        int e = errno;
        af->failed = true;
        return lector__error(err, LECTOR_STATUS_IO, "%s: write failed: %s", af->tmp_path,
                             strerror(e));
    }
    return LECTOR_STATUS_OK;
}

enum lector_status lector__afile_commit(struct lector__afile *af, struct lector_error *err) {
    enum lector_status st = LECTOR_STATUS_OK;
    if (!af->fp || af->failed) {
        lector__afile_abort(af);
        return lector__error(err, LECTOR_STATUS_IO, "commit of a failed or closed file");
    }
    // Use RENAME so the file at path changes atomically, and only once the new one is
    // complete and on disk: a crash at any point leaves either the old or the new file.
    if (fflush(af->fp) != 0 || fsync(fileno(af->fp)) != 0) {
        int e = errno;
        st = lector__error(err, LECTOR_STATUS_IO, "%s: cannot flush to disk: %s", af->tmp_path,
                           strerror(e));
        goto fail;
    }
    FILE *fp = af->fp;
    af->fp = NULL;
    if (fclose(fp) != 0) {
        int e = errno;
        st = lector__error(err, LECTOR_STATUS_IO, "%s: close failed: %s", af->tmp_path,
                           strerror(e));
        goto fail;
    }
    if (rename(af->tmp_path, af->path) != 0) {
        int e = errno;
        st = lector__error(err, LECTOR_STATUS_IO, "%s: cannot rename into place: %s", af->path,
                           strerror(e));
        goto fail;
    }
    char *dir = dir_of(af->path);
    if (dir) {
        int dfd = open(dir, O_RDONLY | O_CLOEXEC);
        if (dfd >= 0) {
            // Best effort: some file systems refuse fsync on a directory.
            (void)fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
    return LECTOR_STATUS_OK;
fail:
    lector__afile_abort(af);
    return st;
}

void lector__afile_abort(struct lector__afile *af) {
    if (!af) return;
    if (af->fp) fclose(af->fp);
    if (af->tmp_path) unlink(af->tmp_path);
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}

enum lector_status lector_write_file_atomic(const char *path, const void *data, size_t n,
                                            struct lector_error *err) {
    struct lector__afile af;
    enum lector_status s = lector__afile_open(&af, path, err);
    if (s != LECTOR_STATUS_OK) return s;
    if ((s = lector__afile_write(&af, data, n, err)) != LECTOR_STATUS_OK) {
        lector__afile_abort(&af);
        return s;
    }
    return lector__afile_commit(&af, err);
}
