#include "config.h"

/*
 * Rewriting the users file safely.
 *
 * Every change is read-modify-write under an fcntl lock on
 * "<usersfile>.lock", so that two administrators never lose each other's
 * edit.  The new file is written to a temporary name in the same
 * directory, fsync'd and renamed over the old one, so a worker sees the
 * old or the new file and never half of one.  The file keeps its mode and
 * owner; lines no command touches are kept byte for byte.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/users_file.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "directory/dir_file.h"

/* Lines. */

static void
lines_free(struct users_lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free_secret_str(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void
users_line_insert(struct users_lines *l, size_t at, char *line)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	memmove(l->v + at + 1, l->v + at, (l->n - at) * sizeof(*l->v));
	l->v[at] = line;
	l->n++;
}

/* Lines hold verifiers: wiped like secrets. */
void
users_line_replace(struct users_lines *l, size_t at, char *line)
{
	free_secret_str(l->v[at]);
	l->v[at] = line;
}

void
users_line_remove(struct users_lines *l, size_t at)
{
	free_secret_str(l->v[at]);
	memmove(l->v + at, l->v + at + 1, (l->n - at - 1) * sizeof(*l->v));
	l->n--;
}

/* Lookups use a name's first line, so edits do too. */
long
users_line_find(const struct users_lines *l, const char *name, size_t from)
{
	char first[DIR_NAME_MAX + 2];

	for (size_t i = from; i < l->n; i++)
		if (dir_file_line_name(l->v[i], first, sizeof(first)) &&
		    strcmp(first, name) == 0)
			return (long)i;
	return -1;
}

/* Reading. */

/* A missing file reads as empty. */
static int
lines_read(const char *path, struct users_lines *l)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *fp;

	memset(l, 0, sizeof(*l));
	if ((fp = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return 0;
		log_err("%s: %s", path, strerror(errno));
		return -1;
	}
	l->existed = fstat(fileno(fp), &l->st) == 0;
	while ((n = getline(&line, &cap, fp)) != -1) {
		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		users_line_insert(l, l->n, xstrdup(line));
	}
	if (line != NULL)
		freezero(line, cap);
	if (ferror(fp) || !l->existed) {
		log_err("%s: read error", path);
		fclose(fp);
		lines_free(l);
		return -1;
	}
	fclose(fp);
	return 0;
}

/* Writing. */

/* The old file's mode and owner; a new file gets 0640, group of the
 * service, so that workers can read it and nobody else can. */
static int
file_owner(const struct admin_ctx *ctx, const struct users_lines *l, int fd)
{
	if (l->existed)
		return fchmod(fd, l->st.st_mode & 07777) == -1 ||
		    (geteuid() == 0 &&
			fchown(fd, l->st.st_uid, l->st.st_gid) == -1) ? -1 : 0;
	if (fchmod(fd, 0640) == -1)
		return -1;
	if (ctx->chown_new && fchown(fd, 0, ctx->service_gid) == -1)
		return -1;
	return 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
lines_write_fd(int fd, const struct users_lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (write_all(fd, l->v[i], strlen(l->v[i])) == -1 ||
		    write_all(fd, "\n", 1) == -1)
			return -1;
	return 0;
}

/* The rename is durable only once the directory is on disk too. */
static int
fsync_dir_of(const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	int fd, r = 0;

	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		strcpy(dir, ".");
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(fd) == -1) {
		log_err("%s: %s", dir, strerror(errno));
		r = -1;
	}
	if (fd != -1)
		close(fd);
	free(dir);
	return r;
}

static int
lines_write(const struct admin_ctx *ctx, const char *path,
    const struct users_lines *l)
{
	char *tmp = xasprintf("%s.XXXXXX", path);
	int fd, r = -1;

	if ((fd = mkstemp(tmp)) == -1) {
		log_err("%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	if (lines_write_fd(fd, l) == -1 || file_owner(ctx, l, fd) == -1 ||
	    fsync(fd) == -1)
		log_err("%s: %s", tmp, strerror(errno));
	else if (rename(tmp, path) == -1)
		log_err("rename %s: %s", path, strerror(errno));
	else
		r = 0;
	close(fd);
	if (r != 0)
		unlink(tmp);
	else
		r = fsync_dir_of(path);
	free(tmp);
	return r;
}

/* The cycle. */

/* Holds "<usersfile>.lock" until the returned fd is closed. */
static int
users_lock(const char *path)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char *lock = xasprintf("%s.lock", path);
	int fd;

	if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		log_err("%s: %s", lock, strerror(errno));
	else if (fcntl(fd, F_SETLK, &fl) == -1) {
		fprintf(stderr, "postern: waiting for %s\n", lock);
		while (fcntl(fd, F_SETLKW, &fl) == -1 && errno == EINTR)
			continue;
	}
	free(lock);
	return fd;
}

/* A symlinked users file stays a symlink: edit its target. */
static char *
users_path(const char *path)
{
	char *real = realpath(path, NULL);

	return real ? real : xstrdup(path);
}

int
users_file_edit(const struct admin_ctx *ctx,
    int (*edit)(struct users_lines *l, const char *name, void *arg),
    const char *name, void *arg)
{
	char *path = users_path(ctx->users_file);
	struct users_lines l;
	int lockfd, r = ADMIN_EXIT_ERROR;

	if ((lockfd = users_lock(path)) == -1) {
		free(path);
		return ADMIN_EXIT_ERROR;
	}
	if (lines_read(path, &l) == 0) {
		r = edit(&l, name, arg);
		if (r == ADMIN_EXIT_OK && lines_write(ctx, path, &l) != 0)
			r = ADMIN_EXIT_ERROR;
		lines_free(&l);
	}
	close(lockfd);
	free(path);
	return r;
}

bool
users_file_has(const struct admin_ctx *ctx, const char *name)
{
	char *path = users_path(ctx->users_file);
	struct users_lines l;
	bool found;

	found = lines_read(path, &l) == 0 && users_line_find(&l, name, 0) >= 0;
	lines_free(&l);
	free(path);
	return found;
}
