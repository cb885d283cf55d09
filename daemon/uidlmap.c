#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "daemon/maildrop_index.h"
#include "daemon/uidlmap.h"

/* 200,000 lines of maximal names and UIDLs fit; a bigger file is not a
 * maildrop's. */
#define UIDLMAP_MAX_SIZE ((off_t)64 << 20)

static const char blanks[] = " \t\r";

/* Cuts "name uidl" into e; NULL, or why the line is not one. */
static const char *
parse_line(char *line, struct uidlmap_entry *e)
{
	char *name, *uidl, *rest;

	name = line + strspn(line, blanks);
	uidl = name + strcspn(name, blanks);
	if (*uidl == '\0')
		return "a file name and a UIDL expected";
	*uidl++ = '\0';
	uidl += strspn(uidl, blanks);
	rest = uidl + strcspn(uidl, blanks);
	if (rest[strspn(rest, blanks)] != '\0')
		return "more than a file name and a UIDL";
	*rest = '\0';
	if (strchr(name, '/') != NULL)
		return "a file name, not a path, expected";
	e->baselen = strcspn(name, ":");
	if (e->baselen == 0)
		return "empty base name";
	if (!uidl_valid(uidl, strlen(uidl)))
		return "UIDL must be 1-70 characters from 0x21 to 0x7E";
	name[e->baselen] = '\0';
	e->base = name;
	e->uidl = uidl;
	return NULL;
}

static int
by_base(const void *a, const void *b)
{
	const struct uidlmap_entry *x = a, *y = b;
	int c = strcmp(x->base, y->base);

	return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

static int
by_uidl(const void *a, const void *b)
{
	const struct uidlmap_entry *x = *(const struct uidlmap_entry *const *)a;
	const struct uidlmap_entry *y = *(const struct uidlmap_entry *const *)b;
	int c = strcmp(x->uidl, y->uidl);

	return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

/* Marks (line = 0) the later of two entries with one UIDL. */
static size_t
drop_shared_uidls(struct uidlmap *m, uidlmap_complaint *complain, void *arg)
{
	struct uidlmap_entry **p = xreallocarray(NULL, m->n ? m->n : 1,
	    sizeof(*p));
	size_t bad = 0;

	for (size_t i = 0; i < m->n; i++)
		p[i] = &m->v[i];
	if (m->n > 1)
		qsort(p, m->n, sizeof(*p), by_uidl);
	for (size_t i = 1; i < m->n; i++)
		if (strcmp(p[i]->uidl, p[i - 1]->uidl) == 0) {
			complain(arg, p[i]->line, "UIDL given twice");
			p[i]->line = 0;
			bad++;
		}
	free(p);
	return bad;
}

/* Sorted by base name for uidlmap_find(); a name listed twice keeps its
 * first line. */
static size_t
drop_repeated_names(struct uidlmap *m, uidlmap_complaint *complain,
    void *arg)
{
	size_t bad = 0, k = 0;

	if (m->n > 1)
		qsort(m->v, m->n, sizeof(*m->v), by_base);
	for (size_t i = 0; i < m->n; i++) {
		if (k > 0 && strcmp(m->v[i].base, m->v[k - 1].base) == 0) {
			if (m->v[i].line != 0) {
				complain(arg, m->v[i].line, "message named "
				    "twice");
				bad++;
			}
			continue;
		}
		if (m->v[i].line != 0)
			m->v[k++] = m->v[i];
	}
	m->n = k;
	return bad;
}

size_t
uidlmap_parse(struct uidlmap *m, char *text, uidlmap_complaint *complain,
    void *arg)
{
	size_t bad = 0, cap = 0, line = 0;
	char *next;

	*m = (struct uidlmap){ .text = text };
	for (char *s = text; s != NULL && *s != '\0'; s = next) {
		struct uidlmap_entry e = { .line = ++line };
		const char *why;

		if ((next = strchr(s, '\n')) != NULL)
			*next++ = '\0';
		if (s[strspn(s, blanks)] == '\0' || s[strspn(s, blanks)] == '#')
			continue;
		if ((why = parse_line(s, &e)) != NULL) {
			complain(arg, line, why);
			bad++;
			continue;
		}
		if (m->n == cap) {
			cap = cap ? 2 * cap : 64;
			m->v = xreallocarray(m->v, cap, sizeof(*m->v));
		}
		m->v[m->n++] = e;
	}
	bad += drop_shared_uidls(m, complain, arg);
	return bad + drop_repeated_names(m, complain, arg);
}

int
uidlmap_read(struct uidlmap *m, int dir_fd, uidlmap_complaint *complain,
    void *arg)
{
	char *text;
	size_t len;
	int e;

	*m = (struct uidlmap){ 0 };
	if ((e = md_read_text(dir_fd, UIDLMAP_FILE, UIDLMAP_MAX_SIZE, &text,
	    &len)) != 0) {
		free(text);
		return e;
	}
	if (memchr(text, '\0', len) != NULL) {
		free(text);
		return EBADMSG;		/* not a text file */
	}
	uidlmap_parse(m, text, complain, arg);
	return 0;
}

const char *
uidlmap_find(const struct uidlmap *m, const char *base, size_t len)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct uidlmap_entry *e = &m->v[mid];
		int c = strncmp(e->base, base, len);

		if (c == 0)
			c = e->baselen > len;
		if (c == 0)
			return e->uidl;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void
uidlmap_free(struct uidlmap *m)
{
	free(m->text);
	free(m->v);
	*m = (struct uidlmap){ 0 };
}
