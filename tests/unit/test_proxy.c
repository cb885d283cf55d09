/* Unit tests: PROXY protocol v1 and v2 header parsing. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "common/netaddr.h"
#include "daemon/proxy.h"
#include "tests/unit/check.h"

static const char *
src_of(const struct proxy_addrs *pa, int *port)
{
	static char buf[64];

	sockaddr_format((const struct sockaddr *)&pa->src, buf, sizeof(buf), port);
	return buf;
}

static void
test_v1(void)
{
	const char *ok = "PROXY TCP4 192.0.2.7 198.51.100.1 40000 110\r\nUSER x\r\n";
	const char *ok6 = "PROXY TCP6 2001:db8::7 2001:db8::1 40000 995\r\n";
	struct proxy_addrs pa;
	size_t used;
	int port;

	CHECK(proxy_parse((const unsigned char *)ok, strlen(ok), &used, &pa) == PROXY_OK);
	CHECK(used == strlen(ok) - strlen("USER x\r\n"));
	CHECK_STR(src_of(&pa, &port), "192.0.2.7");
	CHECK(port == 40000);
	CHECK(proxy_parse((const unsigned char *)ok6, strlen(ok6), &used, &pa) == PROXY_OK);
	CHECK_STR(src_of(&pa, &port), "2001:db8::7");
	CHECK(proxy_parse((const unsigned char *)"PROXY UNKNOWN\r\n", 15, &used, &pa) == PROXY_OK);
	CHECK(pa.local);
	CHECK(proxy_parse((const unsigned char *)"PROXY TCP4 1.2", 14, &used, &pa) == PROXY_NEED_MORE);
	CHECK(proxy_parse((const unsigned char *)"PRO", 3, &used, &pa) == PROXY_NEED_MORE);
}

static void
test_v1_bad(void)
{
	static const char *bad[] = {
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",           /* no CR */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",           /* missing port */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",       /* extra field */
		"PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n",
		"PROXY TCP4 ::1 ::1 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 70000 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"USER alice\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
	};
	struct proxy_addrs pa;
	size_t used;
	char longline[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(proxy_parse((const unsigned char *)bad[i], strlen(bad[i]), &used, &pa) == PROXY_BAD);
	memset(longline, 'A', sizeof(longline));
	memcpy(longline, "PROXY ", 6);
	CHECK(proxy_parse((const unsigned char *)longline, sizeof(longline), &used, &pa) == PROXY_BAD);
}

static size_t
v2_header(unsigned char *b, int cmd, int fam, size_t body)
{
	static const unsigned char sig[12] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	};

	memcpy(b, sig, 12);
	b[12] = (unsigned char)(0x20 | cmd);
	b[13] = (unsigned char)fam;
	b[14] = (unsigned char)(body >> 8);
	b[15] = (unsigned char)(body & 0xff);
	return 16 + body;
}

static void
test_v2(void)
{
	unsigned char b[128] = { 0 };
	struct proxy_addrs pa;
	size_t n, used;
	int port;

	n = v2_header(b, 1, 0x11, 12 + 5); /* 5 bytes of TLV after the addresses */
	inet_pton(AF_INET, "203.0.113.9", b + 16);
	inet_pton(AF_INET, "198.51.100.1", b + 20);
	b[24] = 0x9c; b[25] = 0x40; /* 40000 */
	b[26] = 0; b[27] = 110;
	CHECK(proxy_parse(b, n, &used, &pa) == PROXY_OK);
	CHECK(used == n);
	CHECK_STR(src_of(&pa, &port), "203.0.113.9");
	CHECK(port == 40000);
	CHECK(proxy_parse(b, n - 1, &used, &pa) == PROXY_NEED_MORE);
	CHECK(proxy_parse(b, 10, &used, &pa) == PROXY_NEED_MORE);

	n = v2_header(b, 1, 0x21, 36);
	inet_pton(AF_INET6, "2001:db8::9", b + 16);
	inet_pton(AF_INET6, "2001:db8::1", b + 32);
	b[48] = 0; b[49] = 1; b[50] = 0; b[51] = 110;
	CHECK(proxy_parse(b, n, &used, &pa) == PROXY_OK);
	CHECK_STR(src_of(&pa, &port), "2001:db8::9");

	n = v2_header(b, 0, 0x00, 0);
	CHECK(proxy_parse(b, n, &used, &pa) == PROXY_OK && pa.local);
	n = v2_header(b, 1, 0x11, 4);       /* body too short for TCP4 */
	CHECK(proxy_parse(b, n, &used, &pa) == PROXY_BAD);
	n = v2_header(b, 2, 0x11, 12);      /* unknown command */
	CHECK(proxy_parse(b, n, &used, &pa) == PROXY_BAD);
	v2_header(b, 1, 0x11, 12);
	b[12] = 0x11;                       /* version 1 in a v2 header */
	CHECK(proxy_parse(b, 28, &used, &pa) == PROXY_BAD);
}

int
main(void)
{
	test_v1();
	test_v1_bad();
	test_v2();
	return check_done("test_proxy");
}
