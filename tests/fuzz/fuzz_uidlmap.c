#include "config.h"

/* libFuzzer target: the imported-UIDL map parser (daemon/uidlmap.c).
 * Whatever the input, what is kept must be sound: valid UIDLs, no name or
 * UIDL twice, entries sorted so that each is found by its base name, and
 * every line either kept, skipped as blank or comment, or complained of.
 * The map written back in plain form must parse to the same entries. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "daemon/maildrop_index.h"
#include "daemon/uidlmap.h"
#include "tests/fuzz/fuzz.h"

static void
count_complaint(void *arg, size_t line, const char *why)
{
	size_t *n = arg;

	if (line == 0 || why == NULL || *why == '\0')
		abort();
	(*n)++;
}

static void
check_sound(const struct uidlmap *m)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct uidlmap_entry *e = &m->v[i];

		if (e->baselen == 0 || strlen(e->base) != e->baselen ||
		    strpbrk(e->base, ":/ \t\r\n") != NULL ||
		    !uidl_valid(e->uidl, strlen(e->uidl)) ||
		    uidlmap_find(m, e->base, e->baselen) != e->uidl)
			abort();
		if (i > 0 && strcmp(m->v[i - 1].base, e->base) >= 0)
			abort();
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->v[j].uidl, e->uidl) == 0)
				abort();
	}
}

/* "base TAB uidl" lines, as postern uidl import writes them. */
static char *
plain_form(const struct uidlmap *m)
{
	size_t cap = 1, len = 0;
	char *out;

	for (size_t i = 0; i < m->n; i++)
		cap += m->v[i].baselen + strlen(m->v[i].uidl) + 2;
	out = xmalloc(cap);
	for (size_t i = 0; i < m->n; i++)
		len += (size_t)snprintf(out + len, cap - len, "%s\t%s\n",
		    m->v[i].base, m->v[i].uidl);
	out[len] = '\0';
	return out;
}

static size_t
lines_in(const char *s)
{
	size_t n = *s != '\0';

	for (; *s != '\0'; s++)
		n += s[0] == '\n' && s[1] != '\0';
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xmalloc(size + 1);
	struct uidlmap m, again;
	size_t bad = 0, bad2 = 0, lines;

	memcpy(text, data, size);
	text[size] = '\0';
	lines = lines_in(text);
	if (uidlmap_parse(&m, text, count_complaint, &bad) != bad)
		abort();
	if (m.n + bad > lines)
		abort();
	check_sound(&m);
	if (uidlmap_parse(&again, plain_form(&m), count_complaint, &bad2) != 0
	    || again.n != m.n)
		abort();
	for (size_t i = 0; i < m.n; i++)
		if (strcmp(again.v[i].base, m.v[i].base) != 0 ||
		    strcmp(again.v[i].uidl, m.v[i].uidl) != 0)
			abort();
	uidlmap_free(&again);
	uidlmap_free(&m);
	return 0;
}
