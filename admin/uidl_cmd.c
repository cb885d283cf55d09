/*
 * "postern uidl import NAME FILE [--dry-run]": gives the messages of NAME's
 * maildrop the UIDLs they had on the server they were migrated from (see
 * daemon/uidlmap.h), so that clients leaving mail on the server do not
 * fetch it all again. The map is checked whole first; it replaces the
 * previous one only under the maildrop's session lock, and the index is
 * dropped with it so that every message takes its UIDL from the map.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/uidl_cmd.h"
#include "admin/user_cmd.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "daemon/maildrop.h"
#include "daemon/maildrop_index.h"
#include "daemon/uidlmap.h"
#include "directory/dir_file.h"

const char uidl_cmd_usage[] =
    "  uidl import NAME FILE|- [--dry-run]\n"
    "                                UIDLs from a former server (see postern(8))\n";

#define MAP_MAX ((size_t)64 << 20)

struct import {
	const char *user, *file, *label;
	bool dry_run;
	struct uidlmap map;
	size_t found;            /* map entries naming a message present */
};

static void
say_bad_line(void *arg, size_t line, const char *why)
{
	const struct import *im = arg;

	log_err("%s:%zu: %s", im->label, line, why);
}

/* Reads fd to its end into a NUL-terminated buffer of at most MAP_MAX
 * bytes; 0, or an errno (EFBIG: too big). */
static int
read_all(int fd, char **textp, size_t *lenp)
{
	size_t len = 0, cap = 65536;
	char *text = xmalloc(cap + 1);
	ssize_t r;

	for (;;) {
		if (len == cap) {
			if (cap == MAP_MAX) {
				free(text);
				return EFBIG;
			}
			cap = cap * 2 < MAP_MAX ? cap * 2 : MAP_MAX;
			text = xreallocarray(text, cap + 1, 1);
		}
		if ((r = read(fd, text + len, cap - len)) == 0)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(text);
			return e;
		}
		len += (size_t)r;
	}
	text[len] = '\0';
	*textp = text;
	*lenp = len;
	return 0;
}

/* The whole of FILE (or stdin), NUL-terminated; NULL after saying why. */
static char *
read_map_text(const struct import *im)
{
	bool is_stdin = strcmp(im->file, "-") == 0;
	int fd = is_stdin ? 0 : open(im->file, O_RDONLY | O_CLOEXEC), e;
	char *text = NULL;
	size_t len = 0;

	if (fd == -1) {
		log_err("%s: %s", im->file, strerror(errno));
		return NULL;
	}
	e = read_all(fd, &text, &len);
	if (!is_stdin)
		close(fd);
	if (e != 0) {
		log_err("%s: %s", im->label, e == EFBIG ? "bigger than 64 MB" :
		    strerror(e));
		return NULL;
	}
	if (memchr(text, '\0', len) != NULL) {
		log_err("%s: holds NUL bytes: not a text file", im->label);
		free(text);
		return NULL;
	}
	return text;
}

/* Files in the maildrop belong to its owner: root gives up its rights
 * before creating any, as the service user would otherwise find a lock
 * file or a map it cannot read. */
static int
become_owner(int dir_fd, const char *path)
{
	struct stat st;

	if (fstat(dir_fd, &st) == -1) {
		log_err("%s: %s", path, strerror(errno));
		return -1;
	}
	if (geteuid() != 0 || st.st_uid == 0)
		return 0;
	if (setgroups(0, NULL) == -1 || setgid(st.st_gid) == -1 ||
	    setuid(st.st_uid) == -1) {
		log_err("cannot become %s's owner (uid %ld): %s", path,
		    (long)st.st_uid, strerror(errno));
		return -1;
	}
	return 0;
}

/* How many map entries name a message in sub/ (cur or new). */
static int
count_found(struct import *im, int dir_fd, const char *sub)
{
	int fd = openat(dir_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		log_err("%s/: %s", sub, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && uidlmap_find(&im->map, de->d_name,
		    strcspn(de->d_name, ":")) != NULL)
			im->found++;
	closedir(d);
	return 0;
}

/* The map in its plain form, by temp file, fsync and rename, as
 * mdx_write() writes the index. */
static int
save_map(const struct import *im, int dir_fd)
{
	char tmp[64];
	FILE *fp;
	int fd, e = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", UIDLMAP_FILE, (long)getpid());
	if ((fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC | O_NOFOLLOW, 0600)) == -1)
		return errno;
	if ((fp = fdopen(fd, "w")) == NULL) {
		e = errno;
		close(fd);
	} else {
		for (size_t i = 0; i < im->map.n; i++)
			fprintf(fp, "%s\t%s\n", im->map.v[i].base,
			    im->map.v[i].uidl);
		if (fflush(fp) == EOF || ferror(fp))
			e = errno != 0 ? errno : EIO;
		if (e == 0 && fsync(fd) == -1)
			e = errno;
		if (fclose(fp) == EOF && e == 0)
			e = errno;
	}
	if (e == 0 && renameat(dir_fd, tmp, dir_fd, UIDLMAP_FILE) == -1)
		e = errno;
	if (e != 0)
		unlinkat(dir_fd, tmp, 0);
	return e;
}

/* The index caches the UIDLs given before: it goes, then the directory
 * is synced so that the new map and the missing index are durable. */
static int
replace_map(const struct import *im, int dir_fd)
{
	int e;

	if ((e = save_map(im, dir_fd)) != 0) {
		log_err("writing %s: %s", UIDLMAP_FILE, strerror(e));
		return -1;
	}
	/* Some file systems cannot sync a directory (EINVAL) and need not. */
	if ((unlinkat(dir_fd, MDX_FILE, 0) != 0 && errno != ENOENT) ||
	    (fsync(dir_fd) != 0 && errno != EINVAL)) {
		log_err("dropping %s: %s; remove it before the next login",
		    MDX_FILE, strerror(errno));
		return -1;
	}
	return 0;
}

/* Under the session lock: count, then (unless a dry run) replace. */
static int
import_locked(struct import *im, int dir_fd, const char *path)
{
	int lock = maildrop_lock(dir_fd), r = -1;

	if (lock == -EAGAIN) {
		log_err("%s: a POP3 session holds the maildrop; try again when "
		    "it ends", im->user);
		return -1;
	}
	if (lock < 0) {
		log_err("%s: cannot lock: %s", path, strerror(-lock));
		return -1;
	}
	if (count_found(im, dir_fd, "cur") == 0 &&
	    count_found(im, dir_fd, "new") == 0 &&
	    (im->dry_run || replace_map(im, dir_fd) == 0))
		r = 0;
	close(lock);
	return r;
}

static int
import_into(struct import *im, const char *path)
{
	int dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (dir_fd == -1) {
		log_err("maildrop %s: %s", path, strerror(errno));
		return -1;
	}
	r = become_owner(dir_fd, path) == 0 ? import_locked(im, dir_fd, path) :
	    -1;
	close(dir_fd);
	return r;
}

static void
report(const struct import *im)
{
	printf("%s: %s %zu UIDLs; %zu name messages in the maildrop, %zu "
	    "name none\n", im->user, im->dry_run ? "would import" : "imported",
	    im->map.n, im->found, im->map.n - im->found);
	if (!im->dry_run)
		log_info("uidl import for %s by uid %ld: %zu UIDLs, %zu found",
		    im->user, (long)getuid(), im->map.n, im->found);
}

static int
parse_args(struct import *im, int argc, char **argv)
{
	const char **next[] = { &im->user, &im->file };
	size_t given = 0;

	if (argc < 2 || strcmp(argv[1], "import") != 0)
		return -1;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0)
			im->dry_run = true;
		else if (given < 2)
			*next[given++] = argv[i];
		else
			return -1;
	}
	if (given != 2)
		return -1;
	im->label = strcmp(im->file, "-") == 0 ? "stdin" : im->file;
	return 0;
}

/* The map is checked before the user is looked up, so that a bad map
 * is reported whole even for an unknown user. */
static int
run_import(const struct admin_ctx *ctx, struct import *im)
{
	struct user_record *u = NULL;
	enum dir_result dr;
	char *text;
	int r = ADMIN_EXIT_ERROR;

	if ((text = read_map_text(im)) == NULL)
		return r;
	if (uidlmap_parse(&im->map, text, say_bad_line, im) > 0)
		log_err("%s: nothing imported: fix the lines above", im->label);
	else if ((dr = user_lookup(ctx, im->user, &u)) != DIR_OK)
		log_err(dr == DIR_NOTFOUND ? "no such user: %s" :
		    "cannot look %s up: the directory is unavailable", im->user);
	else if (import_into(im, u->maildrop) == 0) {
		report(im);
		r = ADMIN_EXIT_OK;
	}
	user_record_free(u);
	uidlmap_free(&im->map);
	return r;
}

int
uidl_cmd(const struct admin_ctx *ctx, int argc, char **argv)
{
	struct import im = { 0 };

	if (parse_args(&im, argc, argv) != 0) {
		fprintf(stderr, "usage: postern [options] uidl import NAME "
		    "FILE|- [--dry-run]\n");
		return ADMIN_EXIT_USAGE;
	}
	if (!dir_file_name_valid(im.user)) {
		log_err("invalid user name \"%s\"", im.user);
		return ADMIN_EXIT_ERROR;
	}
	return run_import(ctx, &im);
}
