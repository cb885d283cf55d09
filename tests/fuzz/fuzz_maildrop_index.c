#include "config.h"

/* libFuzzer target: the maildrop index reader (daemon/maildrop_index.c).
 * mdx_load() reads postern.index from a directory fd, so each input is
 * written there first, in one temp directory made per run (on /dev/shm
 * when it exists: mdx_write below fsyncs). An index that loads must match
 * itself entry by entry in order, and must survive mdx_write() and a
 * second load unchanged. */

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xmalloc.h"
#include "daemon/maildrop_index.h"
#include "tests/fuzz/fuzz.h"


static char dir_path[256];
static int dir_fd = -1;

static void
cleanup(void)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/%s", dir_path, MDX_FILE);
	unlink(path);
	rmdir(dir_path);
	close(dir_fd);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = fuzz_tmpdir();

	(void)argc;
	(void)argv;
	snprintf(dir_path, sizeof(dir_path), "%s/fuzz_mdx.XXXXXX", base);
	if (mkdtemp(dir_path) == NULL ||
	    (dir_fd = open(dir_path, O_RDONLY | O_DIRECTORY)) == -1) {
		perror(dir_path);
		exit(1);
	}
	atexit(cleanup);
	return 0;
}

static void
write_index(const uint8_t *data, size_t size)
{
	int fd = openat(dir_fd, MDX_FILE, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd == -1 || write(fd, data, size) != (ssize_t)size) {
		perror("write " MDX_FILE);
		abort();
	}
	close(fd);
}

static const char *
uidl_of(const struct mdx_entry *e)
{
	return e->uidl != NULL ? e->uidl : e->base;
}

/* Every entry, looked up in order, is found (duplicates included). */
static void
check_match(struct mdx *x)
{
	for (size_t i = 0; i < x->count; i++) {
		const struct mdx_entry *e = &x->ents[i];

		if (mdx_match(x, e->stamp, e->base, e->baselen, e->ino) == NULL)
			abort();
	}
	if (x->used != x->count)
		abort();
}

static void
same_entries(const struct mdx *a, const struct mdx *b)
{
	if (a->count != b->count)
		abort();
	for (size_t i = 0; i < a->count; i++) {
		const struct mdx_entry *p = &a->ents[i], *q = &b->ents[i];

		if (p->baselen != q->baselen || strcmp(p->base, q->base) ||
		    p->ino != q->ino || p->size != q->size ||
		    p->stamp != q->stamp || strcmp(uidl_of(p), uidl_of(q)))
			abort();
	}
}

/* mdx_write() of what was loaded, then a second load, gives the same. */
static void
check_rewrite(const struct mdx *x)
{
	struct message *msgs = xcalloc(x->count, sizeof(*msgs));
	struct mdx y;
	char err[256];

	for (size_t i = 0; i < x->count; i++) {
		msgs[i].name = (char *)x->ents[i].base;
		msgs[i].uidl = (char *)uidl_of(&x->ents[i]);
		msgs[i].ino = x->ents[i].ino;
		msgs[i].size = x->ents[i].size;
	}
	if (mdx_write(dir_fd, msgs, x->count, err, sizeof(err)) != 0) {
		fprintf(stderr, "mdx_write: %s\n", err);
		abort();
	}
	free(msgs);
	if (mdx_load(&y, dir_fd, dir_path, err, sizeof(err)) != 0)
		abort();
	same_entries(x, &y);
	mdx_free(&y);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mdx x;
	char err[256];

	write_index(data, size);
	if (mdx_load(&x, dir_fd, dir_path, err, sizeof(err)) != 0)
		abort();	/* only ESTALE/EIO may fail, never content */
	if (x.count > 0) {
		check_rewrite(&x);
		check_match(&x);
	}
	mdx_free(&x);
	return 0;
}
