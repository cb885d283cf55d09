#ifndef POSTERN_UIDLMAP_H
#define POSTERN_UIDLMAP_H

#include <stddef.h>

/* postern.uidls keeps the UIDLs a maildrop's messages had on the server
 * they came from, so that clients which leave mail on the server do not
 * fetch it all again after a migration. It is data, not a cache: written
 * by "postern uidl import", read by maildrop_open() for every message the
 * index does not know. One message a line:
 *	<maildir file name> <whitespace> <uidl>
 * where only the base name (before ':') counts; blank lines and lines
 * starting with '#' are skipped. */

#define UIDLMAP_FILE "postern.uidls"

struct uidlmap_entry {
	const char *base;    /* NUL-terminated, inside the map's text */
	size_t baselen;
	const char *uidl;
	size_t line;
};

struct uidlmap {
	char *text;          /* the file, fields cut out in place */
	struct uidlmap_entry *v;
	size_t n;
};

/* Told of each line that is left out, with its number and why. */
typedef void uidlmap_complaint(void *arg, size_t line, const char *why);

/* Takes text (NUL-terminated, malloc'd: the map owns it from now on) and
 * keeps its good lines; a line naming a message or a UIDL an earlier line
 * named is left out too. Returns how many lines were left out. */
size_t uidlmap_parse(struct uidlmap *m, char *text,
    uidlmap_complaint *complain, void *arg);
/* Reads UIDLMAP_FILE in dir_fd. 0, or an errno (ENOENT: no map; EFBIG:
 * not a regular file or over 64 MB; EBADMSG: not text). */
int uidlmap_read(struct uidlmap *m, int dir_fd, uidlmap_complaint *complain,
    void *arg);
/* The UIDL of the message whose base name is base[0..len), or NULL. */
const char *uidlmap_find(const struct uidlmap *m, const char *base,
    size_t len);
void uidlmap_free(struct uidlmap *m);

#endif
