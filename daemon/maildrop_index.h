#ifndef POSTERN_MAILDROP_INDEX_H
#define POSTERN_MAILDROP_INDEX_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "daemon/maildrop.h"

/* postern.index caches what maildrop_open() would otherwise learn by
 * reading every message: its CRLF size and its UIDL. Text, one record a
 * line, in delivery order (see md_key_cmp):
 *	postern-index 2 <count>
 *	<base name> TAB <inode> TAB <size> TAB <uidl, empty if the base name>
 * The base name is the maildir name before ':', so a flag change made by
 * another mail reader keeps the record. A record is trusted only while cur/
 * holds a file of that base name with the same inode as readdir reports it,
 * so a replaced file is read again. The count in the header catches a
 * truncated file; any fault makes the whole index ignored and rebuilt.
 * Being sorted like the listing, the index is matched against it in one
 * sequential pass (no hash table to miss the cache on). */

#define MDX_FILE "postern.index"

struct mdx_entry {
	const char *base;    /* NUL-terminated, inside the loaded text */
	size_t baselen;
	uint64_t stamp;
	ino_t ino;
	off_t size;
	const char *uidl;    /* NULL: the base name */
	bool used;           /* matched by a file in cur/ */
};

struct mdx {
	char *text;          /* the file, fields cut out in place */
	struct mdx_entry *ents;
	size_t count;
	size_t next;         /* entries before it have smaller keys */
	size_t used;         /* entries matched so far */
};

/* Loads the index of the maildrop at dir_fd. A missing, unreadable or
 * corrupt index loads as empty (and is logged); returns 0 then. Returns an
 * errno only for faults that must fail the session (ESTALE, EIO), with a
 * reason in err. */
int mdx_load(struct mdx *x, int dir_fd, const char *path, char *err,
    size_t errlen);
/* The unused entry for this name and inode, marked used; or NULL. Calls
 * must come in md_key_cmp order. */
struct mdx_entry *mdx_match(struct mdx *x, uint64_t stamp, const char *base,
    size_t baselen, ino_t ino);
void mdx_free(struct mdx *x);

/* Replaces the index with the given messages, which are in delivery
 * order: temp file, fsync, rename, fsync of the directory; then removes
 * temp files that interrupted writers left. Only with the session lock
 * held. Returns 0 or an errno, with a reason in err. */
int mdx_write(int dir_fd, const struct message *msgs, size_t n, char *err,
    size_t errlen);

/* Whether a record for this name can be written on one line. */
bool mdx_indexable(const char *name);

/* Maildir names, shared by maildrop.c and maildrop_index.c. */

/* Length of the base name: the part before the first ':'. */
static inline size_t
md_baselen(const char *name)
{
	return strcspn(name, ":");
}

/* The leading number of a maildir name: its delivery time. */
uint64_t md_stamp(const char *name);

/* Delivery order: by stamp, then base name. */
int md_key_cmp(uint64_t sa, const char *a, size_t alen, uint64_t sb,
    const char *b, size_t blen);

/* Whether s[0..len) can be a UIDL: 1-70 chars of 0x21-0x7E (RFC 1939 §7). */
bool uidl_valid(const char *s, size_t len);
/* Reads regular file name in dir_fd, at most max bytes, into a malloc'd
 * NUL-terminated *text (NULL when it could not be opened; the caller
 * frees it in every case). 0, or an errno (EFBIG: not a regular file, or
 * too big). */
int md_read_text(int dir_fd, const char *name, off_t max, char **text,
    size_t *len);

/* Writes "<what>: <strerror(e)>" to err and returns e. */
int md_seterr(char *err, size_t errlen, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Faults after which the store cannot serve this session (NFS server
 * gone, disk errors, a read-only store): they fail it with [SYS/TEMP].
 * A store read-only at login fails the login rather than give a read-only
 * session: the session lock (an fcntl write lock, so a descriptor open
 * for writing) cannot be taken, new/ cannot be moved to cur/, so mail
 * still there would be missing, and every delete would be refused only at
 * QUIT, after a client that deletes what it downloads has fetched all it
 * will fetch again. A store that turns read-only during a session keeps
 * serving reads; its deletes fail at QUIT with [SYS/TEMP]. */
static inline bool
md_store_fault(int e)
{
	return e == ESTALE || e == EIO || e == ETIMEDOUT || e == EROFS;
}

#endif
