/* Unit tests: the wire-form converter (LF -> CRLF, dot-stuffing) against a
 * plain reference, on fixed cases and on random input cut at random
 * places, for every path (bytes, shuffle, expand) this CPU can run. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/wireform.h"
#include "tests/unit/check.h"

/* RFC 1939 §3 said plainly, one byte at a time. */
static size_t
reference(const char *in, size_t n, char *out)
{
	size_t o = 0;
	char prev = '\n';

	for (size_t i = 0; i < n; i++) {
		if (in[i] == '.' && prev == '\n')
			out[o++] = '.';
		if (in[i] == '\n' && prev != '\r')
			out[o++] = '\r';
		out[o++] = in[i];
		prev = in[i];
	}
	return o;
}

/* Converts in pieces cut at the given places. */
static size_t
converted(const char *in, size_t n, const size_t *cuts, size_t ncuts,
    char *out)
{
	struct wireform w = WIREFORM_INIT;
	size_t o = 0, from = 0;

	for (size_t c = 0; c <= ncuts; c++) {
		size_t to = c < ncuts ? cuts[c] : n;

		o += wireform_copy(&w, out + o, in + from, to - from);
		from = to;
	}
	return o;
}

static void
check_case(const char *in, const char *want)
{
	char out[256];
	struct wireform w = WIREFORM_INIT;
	size_t n = wireform_copy(&w, out, in, strlen(in));

	CHECK(n == strlen(want) && memcmp(out, want, n) == 0);
}

static void
test_fixed(void)
{
	check_case("", "");
	check_case("a\n", "a\r\n");
	check_case("a\r\nb\n", "a\r\nb\r\n");
	check_case(".\n", "..\r\n");
	check_case("\n.\n..x\n", "\r\n..\r\n...x\r\n");
	check_case("no line end", "no line end");
	check_case("0123456789abcdef0123456789abcdef\n.0123456789abcdef\n",
	    "0123456789abcdef0123456789abcdef\r\n..0123456789abcdef\r\n");
	check_case("\r\r\n\n", "\r\r\n\r\n");
	check_case("x.y\n", "x.y\r\n");
}

/* Bytes drawn mostly from the ones that matter: LF, CR, '.'. */
static char
random_byte(void)
{
	static const char pick[] = "\n\n\r..aZ ";
	int r = rand() % 16;

	return r < 8 ? pick[r] : (char)(rand() % 256);
}

static void
test_random(void)
{
	enum { N = 3000 };
	static char in[N], want[2 * N], got[WIREFORM_ROOM(N)];

	for (int round = 0; round < 2000; round++) {
		size_t n = (size_t)(rand() % N), cuts[8], ncuts = 0;
		size_t wn, gn;

		for (size_t i = 0; i < n; i++)
			in[i] = random_byte();
		while (n > 0 && ncuts < (size_t)(rand() % 8))
			cuts[ncuts++] = (size_t)(rand() % (int)n);
		for (size_t i = 1; i < ncuts; i++)	/* sort the cuts */
			for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
				size_t t = cuts[j];
				cuts[j] = cuts[j - 1];
				cuts[j - 1] = t;
			}
		wn = reference(in, n, want);
		gn = converted(in, n, cuts, ncuts, got);
		CHECK(gn == wn && memcmp(got, want, wn) == 0);
	}
}

/* Every byte doubles ("\n." over and over): the output fills exactly the
 * room promised, in a heap block ASan bounds, for every length near the
 * block sizes of the vector paths. */
static void
test_worst_case(void)
{
	for (size_t n = 0; n <= 200; n++) {
		char *in = malloc(n + 1), *out = malloc(WIREFORM_ROOM(n) + 1);
		struct wireform w = WIREFORM_INIT;
		size_t got;

		for (size_t i = 0; i < n; i++)
			in[i] = i % 2 == 0 ? '\n' : '.';
		got = wireform_copy(&w, out, in, n);
		CHECK(got == 2 * n);
		for (size_t i = 0; i < got; i++)
			CHECK(out[i] == "\r\n.."[i % 4]);
		free(in);
		free(out);
	}
}

int
main(void)
{
	static const struct {
		enum wireform_path path;
		const char *name;
	} paths[] = {
		{ WIREFORM_BYTES, "bytes" },
		{ WIREFORM_SHUFFLE, "shuffle" },
		{ WIREFORM_EXPAND, "expand" },
	};

	for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
		if (!wireform_choose(paths[p].path)) {
			printf("wireform: %s path not available here\n",
			    paths[p].name);
			continue;
		}
		srand(1939);
		test_fixed();
		test_random();
		test_worst_case();
	}
	CHECK(wireform_choose(WIREFORM_BYTES));
	return check_done("wireform");
}
