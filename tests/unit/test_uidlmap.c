/* Unit tests: the imported-UIDL map (daemon/uidlmap.c): what a line may
 * hold, which lines are left out and why, and lookups by base name. */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "daemon/uidlmap.h"
#include "tests/unit/check.h"

struct complaints {
	size_t n;
	size_t line[16];
	const char *why[16];
};

static void
note(void *arg, size_t line, const char *why)
{
	struct complaints *c = arg;

	if (c->n < 16) {
		c->line[c->n] = line;
		c->why[c->n] = why;
	}
	c->n++;
}

static size_t
parse(struct uidlmap *m, const char *text, struct complaints *c)
{
	memset(c, 0, sizeof(*c));
	return uidlmap_parse(m, xstrdup(text), note, c);
}

static bool
said(const struct complaints *c, size_t line, const char *start)
{
	for (size_t i = 0; i < c->n && i < 16; i++)
		if (c->line[i] == line &&
		    strncmp(c->why[i], start, strlen(start)) == 0)
			return true;
	return false;
}

static void
test_good_lines(void)
{
	struct uidlmap m;
	struct complaints c;

	CHECK(parse(&m, "# a comment\n\n  \t\n"
	    "1700000001.A.host:2,S\tOLD1\n"
	    "  1700000002.B.host   OLD-2  \r\n"
	    "1700000003.C.host OLD3", &c) == 0);
	CHECK(c.n == 0);
	CHECK(m.n == 3);
	CHECK_STR(uidlmap_find(&m, "1700000001.A.host", 17), "OLD1");
	CHECK_STR(uidlmap_find(&m, "1700000002.B.host", 17), "OLD-2");
	CHECK_STR(uidlmap_find(&m, "1700000003.C.host", 17), "OLD3");
	/* The key is base[0..len): a name's flags do not count. */
	CHECK_STR(uidlmap_find(&m, "1700000003.C.host:2,RS", 17), "OLD3");
	CHECK(uidlmap_find(&m, "1700000003.C.hos", 16) == NULL);
	CHECK(uidlmap_find(&m, "1700000003.C.hostx", 18) == NULL);
	CHECK(uidlmap_find(&m, "1700000000.Z.host", 17) == NULL);
	CHECK(uidlmap_find(&m, "", 0) == NULL);
	uidlmap_free(&m);
	CHECK(parse(&m, "", &c) == 0 && m.n == 0);
	CHECK(uidlmap_find(&m, "x", 1) == NULL);
	uidlmap_free(&m);
}

static void
test_bad_lines(void)
{
	struct uidlmap m;
	struct complaints c;
	char long_uidl[80];

	memset(long_uidl, 'x', 71);
	long_uidl[71] = '\0';
	{
		char *text = xasprintf("a.1 U1\nname-only\n:2,S U2\n"
		    "d/e U3\nf.4 %s\ng.5 U5 extra\nh.6 U1\na.1:2,S U8\n"
		    "i.9 \x7f\n", long_uidl);

		CHECK(parse(&m, text, &c) == 8);
		free(text);
	}
	CHECK(said(&c, 2, "a file name and a UIDL expected"));
	CHECK(said(&c, 3, "empty base name"));
	CHECK(said(&c, 4, "a file name, not a path"));
	CHECK(said(&c, 5, "UIDL must be 1-70"));
	CHECK(said(&c, 6, "more than a file name and a UIDL"));
	CHECK(said(&c, 7, "UIDL given twice"));
	CHECK(said(&c, 8, "message named twice"));
	CHECK(said(&c, 9, "UIDL must be 1-70"));
	CHECK(!said(&c, 1, ""));
	/* The first line of a name or a UIDL is the one kept. */
	CHECK(m.n == 1);
	CHECK_STR(uidlmap_find(&m, "a.1", 3), "U1");
	CHECK(uidlmap_find(&m, "h.6", 3) == NULL);
	uidlmap_free(&m);
}

/* Many entries, given out of order: every one is found. */
static void
test_many(void)
{
	enum { N = 5000 };
	struct uidlmap m;
	struct complaints c;
	size_t cap = (size_t)N * 40, len = 0;
	char *text = xmalloc(cap), name[32], want[32];
	int ok = 1;

	for (int i = N - 1; i >= 0; i--)
		len += (size_t)snprintf(text + len, cap - len,
		    "%d.M%d.host:2,S U-%d\n", 1700000000 + i * 7 % N, i, i);
	CHECK(parse(&m, text, &c) == 0 && m.n == N);
	free(text);
	for (int i = 0; i < N; i++) {
		int n = snprintf(name, sizeof(name), "%d.M%d.host",
		    1700000000 + i * 7 % N, i);

		snprintf(want, sizeof(want), "U-%d", i);
		if (uidlmap_find(&m, name, (size_t)n) == NULL ||
		    strcmp(uidlmap_find(&m, name, (size_t)n), want) != 0)
			ok = 0;
	}
	CHECK(ok);
	uidlmap_free(&m);
}

int
main(void)
{
	test_good_lines();
	test_bad_lines();
	test_many();
	return check_done("uidlmap");
}
