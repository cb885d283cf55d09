/* Unit tests for common/base64.c: RFC 4648 vectors and strict decoding. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "common/base64.h"
#include "tests/unit/check.h"

static const struct {
	const char *plain, *coded;
} vectors[] = {	/* RFC 4648 section 10 */
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void
test_vectors(void)
{
	char enc[16];
	unsigned char dec[16];

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const char *p = vectors[i].plain, *c = vectors[i].coded;

		CHECK(base64_encoded_len(strlen(p)) == strlen(c));
		base64_encode((const unsigned char *)p, strlen(p), enc);
		CHECK_STR(enc, c);
		CHECK(base64_decode(c, strlen(c), dec) == (long)strlen(p));
		CHECK(memcmp(dec, p, strlen(p)) == 0);
	}
}

/* Every length from 0 to 300 and every byte value survive a round trip. */
static void
test_roundtrip(void)
{
	unsigned char in[300], out[300];
	char enc[404];
	int bad = 0;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 7 + 3);
	for (size_t n = 0; n <= sizeof(in); n++) {
		base64_encode(in, n, enc);
		if (strlen(enc) != base64_encoded_len(n) ||
		    base64_decode(enc, strlen(enc), out) != (long)n ||
		    memcmp(in, out, n) != 0)
			bad++;
	}
	CHECK(bad == 0);
}

static void
test_all_bytes(void)
{
	unsigned char in[256], out[256];
	char enc[345];

	for (int i = 0; i < 256; i++)
		in[i] = (unsigned char)i;
	base64_encode(in, sizeof(in), enc);
	CHECK(base64_decode(enc, strlen(enc), out) == 256);
	CHECK(memcmp(in, out, sizeof(in)) == 0);
	CHECK(strncmp(enc, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", 44) == 0);
	CHECK(strlen(enc) == 344);
	CHECK_STR(enc + 336, "/P3+/w==");
}

static long
dec(const char *s)
{
	unsigned char out[64];

	return base64_decode(s, strlen(s), out);
}

static void
test_bad_length(void)
{
	CHECK(dec("Z") == -1);
	CHECK(dec("Zg") == -1);
	CHECK(dec("Zg=") == -1);
	CHECK(dec("Zm9vY") == -1);
	CHECK(dec("Zm9vYg=") == -1);
	CHECK(dec("Zm9vYg===") == -1);
}

static void
test_bad_chars(void)
{
	unsigned char out[8];

	CHECK(dec("Zm9-") == -1);	/* base64url is a different alphabet */
	CHECK(dec("Zm9_") == -1);
	CHECK(dec("Zm 9") == -1);
	CHECK(dec("Zm9v\r\n==") == -1);
	CHECK(dec("Zm9v\n   ") == -1);
	CHECK(dec("Zm9.") == -1);
	CHECK(dec("Zm9\x80") == -1);
	CHECK(dec("Zm9\xff") == -1);
	CHECK(base64_decode("Zm\0v", 4, out) == -1);
	CHECK(base64_decode("Zm9v\0\0\0\0", 8, out) == -1);
}

static void
test_misplaced_pad(void)
{
	CHECK(dec("====") == -1);
	CHECK(dec("Z===") == -1);
	CHECK(dec("=Zm9") == -1);
	CHECK(dec("Zm=v") == -1);
	CHECK(dec("Zg==Zm9v") == -1);	/* padding only in the last quantum */
	CHECK(dec("Zm8=Zm9v") == -1);
	CHECK(dec("Zg=a") == -1);
	CHECK(dec("Zg==") == 1);
	CHECK(dec("Zm8=") == 2);
}

int
main(void)
{
	test_vectors();
	test_roundtrip();
	test_all_bytes();
	test_bad_length();
	test_bad_chars();
	test_misplaced_pad();
	return check_done("test_base64");
}
