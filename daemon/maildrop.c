/* The maildir maildrop of one POP3 session: lock, new/ to cur/, listing
 * with CRLF sizes and UIDLs (cached in postern.index), and the deletes of
 * the UPDATE state. Store rules are in maildrop.h. */

#include "config.h"

#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "daemon/maildrop.h"
#include "daemon/maildrop_index.h"
#include "daemon/uidlmap.h"

#define LOCK_FILE	"postern.lock"
#define DIR_MODE	0700
#define SIZE_CHUNK	65536	/* read size when counting a message */

/* A file found in cur/ while opening. */
struct found {
	char *name;
	char *uidl;
	uint64_t stamp;		/* the name's leading number: delivery time */
	size_t baselen;
	ino_t ino;
	off_t size;
};

/* One maildrop_open() at work. */
struct pass {
	struct maildrop *md;
	struct mdx idx;
	struct found *v;
	size_t n, cap;
	bool dirty;		/* the index must be rewritten */
	int full;		/* ENOSPC, EDQUOT: new/ to cur/ stopped */
	struct uidlmap map;	/* imported UIDLs, read at the first need */
	bool map_read;
	unsigned map_bad;	/* its lines left out */
	char *err;
	size_t errlen;
};

/* readdir over the entries that may be messages. */
struct walk {
	DIR *d;
	int e;			/* readdir's errno, if it failed */
};

/* A store that is read-only (remounted after a disk error, an NFS export
 * switched for maintenance) or full is the administrator's to fix and the
 * client's to retry: [SYS/TEMP], like a store that is unreachable. */
static enum resp_code
errno_rc(int e)
{
	switch (e) {
	case 0:
		return RC_NONE;
	case ESTALE: case EIO: case ETIMEDOUT: case ENOLCK: case ENOSPC:
	case EDQUOT: case EROFS: case EMFILE: case ENFILE: case ENOMEM:
	case EINTR: case EAGAIN: case EBUSY:
		return RC_SYS_TEMP;
	default:
		return RC_SYS_PERM;
	}
}

static int
walk_open(struct walk *w, int dir_fd, const char *sub)
{
	int fd;

	w->e = 0;
	/* A descriptor of its own: the walk must not move dir_fd's offset. */
	if ((fd = openat(dir_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return errno;
	if ((w->d = fdopendir(fd)) == NULL) {
		w->e = errno;
		close(fd);
		return w->e;
	}
	return 0;
}

/* Skips dotfiles (".", "..", and what other programs keep there) and
 * what readdir says is not a file. NULL at the end or on error. */
static struct dirent *
walk_next(struct walk *w)
{
	struct dirent *de;

	for (;;) {
		errno = 0;
		if ((de = readdir(w->d)) == NULL) {
			w->e = errno;
			return NULL;
		}
		if (de->d_name[0] != '.' && (de->d_type == DT_REG ||
		    de->d_type == DT_LNK || de->d_type == DT_UNKNOWN))
			return de;
	}
}

static int
walk_close(struct walk *w)
{
	closedir(w->d);
	return w->e;
}

static int
make_subdirs(int dir_fd, char *err, size_t errlen)
{
	static const char *const subs[] = { "tmp", "new", "cur" };

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (mkdirat(dir_fd, subs[i], DIR_MODE) == -1 &&
		    errno != EEXIST)
			return md_seterr(err, errlen, errno, "mkdir %s",
			    subs[i]);
	return 0;
}

static int
open_dirs(struct maildrop *md, char *err, size_t errlen)
{
	int e;

	md->dir_fd = open(md->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (md->dir_fd == -1 && errno == ENOENT) {
		/* A new user with no mail yet logs in to an empty maildrop. */
		if (mkdir(md->path, DIR_MODE) == -1 && errno != EEXIST)
			return md_seterr(err, errlen, errno, "mkdir %s",
			    md->path);
		md->dir_fd = open(md->path, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
	}
	if (md->dir_fd == -1)
		return md_seterr(err, errlen, errno, "open %s", md->path);
	md->cur_fd = openat(md->dir_fd, "cur", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (md->cur_fd == -1 && errno == ENOENT) {
		if ((e = make_subdirs(md->dir_fd, err, errlen)) != 0)
			return e;
		md->cur_fd = openat(md->dir_fd, "cur", O_RDONLY |
		    O_DIRECTORY | O_CLOEXEC);
	}
	if (md->cur_fd == -1)
		return md_seterr(err, errlen, errno, "open cur/");
	return 0;
}

/* An fcntl lock, because flock is not seen across NFS clients; F_SETLK,
 * because a busy maildrop is answered at once with [IN-USE]. It dies with
 * the process, so a crashed worker never leaves the maildrop locked. */
int
maildrop_lock(int dir_fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd, e;

	fd = openat(dir_fd, LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1)
		return -errno;
	if (fcntl(fd, F_SETLK, &fl) == 0)
		return fd;
	e = errno == EACCES ? EAGAIN : errno;
	close(fd);
	return -e;
}

static enum resp_code
lock_maildrop(struct maildrop *md, char *err, size_t errlen)
{
	int fd = maildrop_lock(md->dir_fd);

	if (fd >= 0) {
		md->lock_fd = fd;
		return RC_NONE;
	}
	if (fd == -EAGAIN) {
		md_seterr(err, errlen, 0, "locked by another session");
		return RC_IN_USE;
	}
	return errno_rc(md_seterr(err, errlen, -fd, "lock %s", LOCK_FILE));
}

/* "<name>:2," marks a message a reader has taken over, with no flags.
 * A full store (ENOSPC, EDQUOT: cur/ must grow a block) stops the moves:
 * what is left in new/ waits, safe, for a later session, and this one can
 * still read and delete the rest, which is what frees space. A read-only
 * store fails the login (see md_store_fault). */
static int
move_one(struct pass *p, int new_fd, const char *name)
{
	char dest[NAME_MAX + 1];
	bool bare = strchr(name, ':') == NULL && strlen(name) + 3 <= NAME_MAX;

	snprintf(dest, sizeof(dest), "%s%s", name, bare ? ":2," : "");
	if (renameat(new_fd, name, p->md->cur_fd, dest) == 0 ||
	    errno == ENOENT)	/* another host took it first */
		return 0;
	if (md_store_fault(errno))
		return md_seterr(p->err, p->errlen, errno, "rename new/%s",
		    name);
	if (errno == ENOSPC || errno == EDQUOT) {
		p->full = errno;
		return 0;
	}
	log_warn("maildrop %s: new/%s left in new/: %s", p->md->path, name,
	    strerror(errno));
	return 0;
}

static int
move_new(struct pass *p)
{
	struct walk w;
	struct dirent *de;
	int e;

	if ((e = walk_open(&w, p->md->dir_fd, "new")) == ENOENT)
		return make_subdirs(p->md->dir_fd, p->err, p->errlen);
	if (e != 0)
		return md_seterr(p->err, p->errlen, e, "open new/");
	while (p->full == 0 && (de = walk_next(&w)) != NULL)
		if ((e = move_one(p, dirfd(w.d), de->d_name)) != 0)
			break;
	if (walk_close(&w) != 0 && e == 0)
		e = md_seterr(p->err, p->errlen, w.e, "read new/");
	if (p->full != 0)
		log_warn("maildrop %s: new mail left in new/: %s",
		    p->md->path, strerror(p->full));
	return e;
}

/* LFs that go out as CRLF: those not preceded by CR. *prev carries the
 * last byte of the previous chunk. */
static off_t
bare_lfs(const char *buf, size_t len, char *prev)
{
	const char *end = buf + len, *lf;
	off_t n = 0;

	for (lf = buf; (lf = memchr(lf, '\n', (size_t)(end - lf))) != NULL;
	    lf++)
		if ((lf == buf ? *prev : lf[-1]) != '\r')
			n++;
	*prev = end[-1];
	return n;
}

/* Octets of a message as sent, which LIST must match exactly. O_NONBLOCK: a FIFO planted in cur/ must
 * not hang the session; it is refused as not a regular file (EINVAL). */
static int
message_size(int cur_fd, const char *name, off_t *size)
{
	static char buf[SIZE_CHUNK];	/* one session per process */
	struct stat st;
	off_t done = 0;
	ssize_t r = 1;
	char prev = '\0';
	int fd, e = 0;

	*size = 0;
	if ((fd = openat(cur_fd, name, O_RDONLY | O_CLOEXEC |
	    O_NONBLOCK)) == -1)
		return errno;
	if (fstat(fd, &st) == -1)
		e = errno;
	else if (!S_ISREG(st.st_mode))
		e = EINVAL;
	/* Up to the length fstat gave, as RETR sends it (msgsend.c): no
	 * read at EOF, a fifth of the system calls of a first login. */
	while (e == 0 && r != 0 && done < st.st_size) {
		if ((r = read(fd, buf, sizeof(buf))) > 0) {
			*size += r + bare_lfs(buf, (size_t)r, &prev);
			done += r;
		} else if (r == -1 && errno != EINTR)
			e = errno;
	}
	/* A last line without LF goes out with CRLF added (msgsend.c). */
	if (e == 0 && *size > 0 && prev != '\n')
		*size += 2;
	close(fd);
	return e;
}

static char *
hash_uidl(const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	char *out;

	if (!EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL))
		fatal("SHA-256 unavailable");
	out = xmalloc(2 * mdlen + 1);
	for (unsigned int i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[2 * mdlen] = '\0';
	return out;
}

/* The base name is unique in a maildir and fixed for the message's life,
 * so it is the UIDL when it can be one; otherwise 64 hex digits of its
 * SHA-256, which are as stable. */
static char *
make_uidl(const char *name, size_t baselen)
{
	if (uidl_valid(name, baselen))
		return xstrndup(name, baselen);
	return hash_uidl(name, baselen);
}

/* A map left unread would give its messages new UIDLs, which the index
 * would then keep: a login waits for a readable map. Bad lines (the
 * admin tool writes none) are left out, the first few said in the log. */
static void
map_complaint(void *arg, size_t line, const char *why)
{
	struct pass *p = arg;

	if (p->map_bad++ < 3)
		log_warn("maildrop %s: %s:%zu: %s; line left out",
		    p->md->path, UIDLMAP_FILE, line, why);
}

static int
read_map(struct pass *p)
{
	int e;

	p->map_read = true;
	e = uidlmap_read(&p->map, p->md->dir_fd, map_complaint, p);
	if (e == 0 || e == ENOENT)
		return 0;
	return md_seterr(p->err, p->errlen, e, "read %s", UIDLMAP_FILE);
}

/* The UIDL of a message the index does not know: imported, or its own. */
static int
new_uidl(struct pass *p, struct found *f)
{
	const char *uidl;
	int e;

	if (!p->map_read && (e = read_map(p)) != 0)
		return e;
	uidl = uidlmap_find(&p->map, f->name, f->baselen);
	f->uidl = uidl ? xstrdup(uidl) : make_uidl(f->name, f->baselen);
	return 0;
}

/* Reads a message the index does not know. -1: leave it out. */
static int
measure(struct pass *p, struct found *f)
{
	int e;

	if ((e = message_size(p->md->cur_fd, f->name, &f->size)) == 0) {
		if ((e = new_uidl(p, f)) != 0)
			return e;
		p->dirty |= mdx_indexable(f->name);
		return 0;
	}
	if (md_store_fault(e))
		return md_seterr(p->err, p->errlen, e, "read cur/%s", f->name);
	if (e != ENOENT)	/* ENOENT: removed while we looked */
		log_warn("maildrop %s: cur/%s left out: %s", p->md->path,
		    f->name, e == EINVAL ? "not a regular file" : strerror(e));
	return -1;
}

static int
fill(struct pass *p, struct found *f)
{
	struct mdx_entry *x;

	x = mdx_match(&p->idx, f->stamp, f->name, f->baselen, f->ino);
	if (x == NULL)
		return measure(p, f);
	f->size = x->size;
	f->uidl = x->uidl ? xstrdup(x->uidl) : xstrndup(f->name, f->baselen);
	return 0;
}

/* Sizes and UIDLs, from the index or by reading the message, in order.
 * What vanished or cannot be read leaves the list. */
static int
resolve(struct pass *p)
{
	size_t i, j;
	int e = 0;

	for (i = j = 0; i < p->n; i++) {
		if ((e = fill(p, &p->v[i])) > 0)
			break;
		if (e == 0)
			p->v[j++] = p->v[i];
		else
			free(p->v[i].name);
	}
	while (i < p->n)	/* after a failure, kept to be freed */
		p->v[j++] = p->v[i++];
	p->n = j;
	return e > 0 ? e : 0;
}

static void
add_found(struct pass *p, const char *name, ino_t ino)
{
	if (p->n == p->cap) {
		p->cap *= 2;
		p->v = xreallocarray(p->v, p->cap, sizeof(*p->v));
	}
	p->v[p->n++] = (struct found){ .name = xstrdup(name),
	    .baselen = md_baselen(name), .stamp = md_stamp(name),
	    .ino = ino };
}

/* Names and inodes, which readdir gives without a stat. */
static int
scan_cur(struct pass *p)
{
	struct walk w;
	struct dirent *de;
	int e;

	if ((e = walk_open(&w, p->md->cur_fd, ".")) != 0)
		return md_seterr(p->err, p->errlen, e, "open cur/");
	while ((de = walk_next(&w)) != NULL)
		add_found(p, de->d_name, de->d_ino);
	if ((e = walk_close(&w)) != 0)
		return md_seterr(p->err, p->errlen, e, "read cur/");
	return 0;
}

/* Delivery order, then the whole name: files sharing a base name end up
 * side by side. */
static int
found_cmp(const void *a, const void *b)
{
	const struct found *x = a, *y = b;
	int c;

	c = md_key_cmp(x->stamp, x->name, x->baselen, y->stamp, y->name,
	    y->baselen);
	return c != 0 ? c : strcmp(x->name, y->name);
}

/* Two files with one base name ("x:2," and "x:2,S", left by a broken
 * delivery or copy) would share a UIDL; the later one gets a hash of its
 * whole name, which the index then keeps. */
static void
unique_uidls(struct pass *p)
{
	for (size_t i = 1; i < p->n; i++)
		if (strcmp(p->v[i].uidl, p->v[i - 1].uidl) == 0) {
			free(p->v[i].uidl);
			p->v[i].uidl = hash_uidl(p->v[i].name,
			    strlen(p->v[i].name));
			p->dirty = true;
		}
}

static void
adopt(struct pass *p)
{
	struct maildrop *md = p->md;

	md->msgs = xcalloc(p->n, sizeof(*md->msgs));
	for (size_t i = 0; i < p->n; i++) {
		md->msgs[i] = (struct message){ .name = p->v[i].name,
		    .uidl = p->v[i].uidl, .size = p->v[i].size,
		    .ino = p->v[i].ino };
		md->live_size += p->v[i].size;
	}
	md->count = md->live_count = p->n;
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

/* The index is a cache: failing to save it costs the next login time, so
 * it fails the session only when the store itself is failing or turned
 * read-only since the lock was taken. A full store (ENOSPC, EDQUOT) does
 * not: the maildir files are the truth, and the session that deletes mail
 * is the one that frees space. */
static int
save_index(struct maildrop *md, char *err, size_t errlen)
{
	char why[256];
	int e;

	if ((e = mdx_write(md->dir_fd, md->msgs, md->count, why,
	    sizeof(why))) == 0)
		return 0;
	if (md_store_fault(e)) {
		md_seterr(err, errlen, 0, "%s", why);
		return e;
	}
	log_warn("maildrop %s: index not saved: %s", md->path, why);
	return 0;
}

static int
load(struct maildrop *md, char *err, size_t errlen)
{
	struct pass p = { .md = md, .err = err, .errlen = errlen };
	int e;

	if ((e = move_new(&p)) != 0 ||
	    (e = mdx_load(&p.idx, md->dir_fd, md->path, err, errlen)) != 0)
		return e;
	/* The index knows about how many files cur/ holds. */
	p.cap = p.idx.count + 64;
	p.v = xreallocarray(NULL, p.cap, sizeof(*p.v));
	if ((e = scan_cur(&p)) == 0) {
		if (p.n > 1)
			qsort(p.v, p.n, sizeof(*p.v), found_cmp);
		e = resolve(&p);
	}
	/* Records of files gone from cur/ must leave the index too. */
	p.dirty |= p.idx.used != p.idx.count;
	mdx_free(&p.idx);
	uidlmap_free(&p.map);
	if (e == 0) {
		unique_uidls(&p);
		adopt(&p);
		if (p.dirty)
			e = save_index(md, err, errlen);
	}
	for (size_t i = 0; i < p.n; i++) {
		free(p.v[i].name);
		free(p.v[i].uidl);
	}
	free(p.v);
	return e;
}

struct maildrop *
maildrop_open(const char *path, enum resp_code *rc, char *err,
    size_t errlen)
{
	struct maildrop *md = xcalloc(1, sizeof(*md));

	md->path = xstrdup(path);
	md->dir_fd = md->lock_fd = md->cur_fd = -1;
	if (errlen > 0)
		err[0] = '\0';
	if ((*rc = errno_rc(open_dirs(md, err, errlen))) == RC_NONE &&
	    (*rc = lock_maildrop(md, err, errlen)) == RC_NONE &&
	    (*rc = errno_rc(load(md, err, errlen))) == RC_NONE)
		return md;
	maildrop_close(md);
	return NULL;
}

struct by_ino {
	ino_t ino;
	size_t i;
};

static int
by_ino_cmp(const void *a, const void *b)
{
	const struct by_ino *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* A mail reader sharing the maildir (an IMAP server) may rename a message
 * to change its flags, "x:2," to "x:2,S", lock or not. Finds the messages
 * miss[0..n) again by base name and inode, in one pass over cur/. */
static int
relocate(struct maildrop *md, const size_t *miss, size_t n)
{
	struct by_ino *v = xcalloc(n, sizeof(*v)), key, *hit;
	struct message *m;
	struct dirent *de;
	struct walk w;
	int e;

	for (size_t k = 0; k < n; k++)
		v[k] = (struct by_ino){ md->msgs[miss[k]].ino, miss[k] };
	qsort(v, n, sizeof(*v), by_ino_cmp);
	if ((e = walk_open(&w, md->cur_fd, ".")) != 0) {
		free(v);
		return e;
	}
	while ((de = walk_next(&w)) != NULL) {
		key.ino = de->d_ino;
		if ((hit = bsearch(&key, v, n, sizeof(*v), by_ino_cmp)) == NULL)
			continue;
		m = &md->msgs[hit->i];
		if (md_baselen(m->name) == md_baselen(de->d_name) &&
		    memcmp(m->name, de->d_name, md_baselen(m->name)) == 0) {
			free(m->name);
			m->name = xstrdup(de->d_name);
		}
	}
	free(v);
	return walk_close(&w);
}

/* O_NONBLOCK: a FIFO planted in cur/ must not hang the session; on a
 * regular file it changes nothing. Returns the fd or -errno, and the
 * file's length in *len. */
static int
open_file(struct maildrop *md, size_t i, off_t *len)
{
	const int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;
	struct stat st;
	int fd, e;

	fd = openat(md->cur_fd, md->msgs[i].name, flags);
	if (fd == -1 && errno == ENOENT) {
		if ((e = relocate(md, &i, 1)) != 0)
			return -e;
		fd = openat(md->cur_fd, md->msgs[i].name, flags);
	}
	if (fd == -1)
		return -errno;
	if (fstat(fd, &st) == -1)
		e = errno;
	else if (S_ISREG(st.st_mode)) {
		*len = st.st_size;
		return fd;
	}
	else
		e = EINVAL;
	close(fd);
	return -e;
}

int
maildrop_open_message(struct maildrop *md, size_t i, off_t *len,
    enum resp_code *rc)
{
	int fd;

	*rc = RC_NONE;
	*len = -1;
	if (i >= md->count)
		return -1;
	if ((fd = open_file(md, i, len)) >= 0 || fd == -ENOENT)
		return fd < 0 ? -1 : fd;
	*rc = errno_rc(-fd);
	log_warn("maildrop %s: open cur/%s: %s", md->path, md->msgs[i].name,
	    fd == -EINVAL ? "not a regular file" : strerror(-fd));
	return -1;
}

void
maildrop_mark_deleted(struct maildrop *md, size_t i)
{
	if (i >= md->count || md->msgs[i].deleted)
		return;
	md->msgs[i].deleted = true;
	md->live_count--;
	md->live_size -= md->msgs[i].size;
}

void
maildrop_reset(struct maildrop *md)
{
	md->live_count = md->count;
	md->live_size = 0;
	for (size_t i = 0; i < md->count; i++) {
		md->msgs[i].deleted = false;
		md->live_size += md->msgs[i].size;
	}
}

/* 0 when message i is gone (its name is then freed: NULL marks it). */
static int
unlink_message(struct maildrop *md, size_t i, bool gone_ok)
{
	struct message *m = &md->msgs[i];

	if (unlinkat(md->cur_fd, m->name, 0) == -1 &&
	    (errno != ENOENT || !gone_ok))
		return errno;
	free(m->name);
	m->name = NULL;
	return 0;
}

static size_t
removal_failed(struct maildrop *md, size_t i, int e)
{
	log_warn("maildrop %s: cur/%s not removed: %s", md->path,
	    md->msgs[i].name, strerror(e));
	return 1;
}

/* Messages that were not where we left them: renamed or already gone. */
static size_t
remove_missing(struct maildrop *md, const size_t *miss, size_t n)
{
	size_t failed = 0;
	int e;

	if ((e = relocate(md, miss, n)) != 0) {
		log_warn("maildrop %s: read cur/: %s", md->path, strerror(e));
		return n;
	}
	for (size_t k = 0; k < n; k++)
		if ((e = unlink_message(md, miss[k], true)) != 0)
			failed += removal_failed(md, miss[k], e);
	return failed;
}

/* Drops removed messages from msgs; returns how many. */
static size_t
compact(struct maildrop *md)
{
	size_t j = 0, removed;

	for (size_t i = 0; i < md->count; i++) {
		if (md->msgs[i].name == NULL)
			free(md->msgs[i].uidl);
		else
			md->msgs[j++] = md->msgs[i];
	}
	removed = md->count - j;
	md->count = j;
	return removed;
}

/* An unlink is durable once cur/ is synced; if that fails the removals
 * may come undone, so they count as failed. Then the index follows. */
static size_t
finish_removals(struct maildrop *md, size_t removed)
{
	char why[256];

	if (fsync(md->cur_fd) == -1 && errno != EINVAL) {
		log_warn("maildrop %s: fsync cur/: %s", md->path,
		    strerror(errno));
		return removed;
	}
	if (mdx_write(md->dir_fd, md->msgs, md->count, why, sizeof(why)))
		log_warn("maildrop %s: index not saved: %s", md->path, why);
	return 0;
}

size_t
maildrop_commit(struct maildrop *md, enum resp_code *rc)
{
	size_t *miss = xcalloc(md->count, sizeof(*miss));
	size_t nmiss = 0, failed = 0, removed;
	int e;

	for (size_t i = 0; i < md->count; i++) {
		if (!md->msgs[i].deleted)
			continue;
		if ((e = unlink_message(md, i, false)) == ENOENT)
			miss[nmiss++] = i;
		else if (e != 0)
			failed += removal_failed(md, i, e);
	}
	if (nmiss > 0)
		failed += remove_missing(md, miss, nmiss);
	free(miss);
	if ((removed = compact(md)) > 0)
		failed += finish_removals(md, removed);
	*rc = failed > 0 ? RC_SYS_TEMP : RC_NONE;
	return failed;
}

void
maildrop_close(struct maildrop *md)
{
	if (md == NULL)
		return;
	for (size_t i = 0; i < md->count; i++) {
		free(md->msgs[i].name);
		free(md->msgs[i].uidl);
	}
	free(md->msgs);
	if (md->cur_fd != -1)
		close(md->cur_fd);
	if (md->dir_fd != -1)
		close(md->dir_fd);
	/* Last: closing the lock file drops the lock. */
	if (md->lock_fd != -1)
		close(md->lock_fd);
	free(md->path);
	free(md);
}
