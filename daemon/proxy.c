#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/xmalloc.h"
#include "daemon/proxy.h"

static const unsigned char v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

static bool
set_inet(struct sockaddr_storage *ss, int af, const void *addr, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, addr, 4);
		in->sin_port = htons(port);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, addr, 16);
		in6->sin6_port = htons(port);
	}
	return true;
}

static bool
v1_port(const char *s, uint16_t *port)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] != '\0'))
		return false;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < 0 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* "TCP4 SRC DST SPORT DPORT" after "PROXY ". */
static enum proxy_status
v1_fields(char *line, struct proxy_addrs *out)
{
	char *f[6], *save = NULL;
	unsigned char a[16], b[16];
	uint16_t sp, dp;
	int n = 0, af;

	for (char *t = strtok_r(line, " ", &save); t && n < 6;
	    t = strtok_r(NULL, " ", &save))
		f[n++] = t;
	if (n >= 1 && strcmp(f[0], "UNKNOWN") == 0) {
		out->local = true;
		return PROXY_OK;
	}
	if (n != 5 || strtok_r(NULL, " ", &save) != NULL)
		return PROXY_BAD;
	if (strcmp(f[0], "TCP4") == 0)
		af = AF_INET;
	else if (strcmp(f[0], "TCP6") == 0)
		af = AF_INET6;
	else
		return PROXY_BAD;
	if (inet_pton(af, f[1], a) != 1 || inet_pton(af, f[2], b) != 1 ||
	    !v1_port(f[3], &sp) || !v1_port(f[4], &dp))
		return PROXY_BAD;
	set_inet(&out->src, af, a, sp);
	set_inet(&out->dst, af, b, dp);
	return PROXY_OK;
}

static enum proxy_status
parse_v1(const unsigned char *buf, size_t len, size_t *used,
    struct proxy_addrs *out)
{
	const unsigned char *lf = memchr(buf, '\n', len < PROXY_V1_MAX ? len : PROXY_V1_MAX);
	char line[PROXY_V1_MAX + 1];
	size_t n;

	if (lf == NULL)
		return len >= PROXY_V1_MAX ? PROXY_BAD : PROXY_NEED_MORE;
	n = (size_t)(lf - buf);
	if (n < 7 || buf[n - 1] != '\r')
		return PROXY_BAD;
	memcpy(line, buf + 6, n - 7);
	line[n - 7] = '\0';
	if (memchr(line, '\0', n - 7))
		return PROXY_BAD;
	*used = n + 1;
	return v1_fields(line, out);
}

static enum proxy_status
parse_v2(const unsigned char *buf, size_t len, size_t *used,
    struct proxy_addrs *out)
{
	size_t body;
	int cmd, fam;

	if (len < 16)
		return PROXY_NEED_MORE;
	if ((buf[12] & 0xf0) != 0x20)
		return PROXY_BAD;
	cmd = buf[12] & 0x0f;
	fam = buf[13];
	body = (size_t)buf[14] << 8 | buf[15];
	if (len < 16 + body)
		return PROXY_NEED_MORE;
	*used = 16 + body;
	if (cmd == 0) {            /* LOCAL: health checks and such */
		out->local = true;
		return PROXY_OK;
	}
	if (cmd != 1)
		return PROXY_BAD;
	if (fam == 0x11 && body >= 12) {
		set_inet(&out->src, AF_INET, buf + 16, (uint16_t)(buf[24] << 8 | buf[25]));
		set_inet(&out->dst, AF_INET, buf + 20, (uint16_t)(buf[26] << 8 | buf[27]));
		return PROXY_OK;
	}
	if (fam == 0x21 && body >= 36) {
		set_inet(&out->src, AF_INET6, buf + 16, (uint16_t)(buf[48] << 8 | buf[49]));
		set_inet(&out->dst, AF_INET6, buf + 32, (uint16_t)(buf[50] << 8 | buf[51]));
		return PROXY_OK;
	}
	if ((fam & 0xf0) == 0x00) { /* AF_UNSPEC: keep the balancer's own */
		out->local = true;
		return PROXY_OK;
	}
	return PROXY_BAD;
}

enum proxy_status
proxy_parse(const unsigned char *buf, size_t len, size_t *used,
    struct proxy_addrs *out)
{
	size_t k;

	memset(out, 0, sizeof(*out));
	*used = 0;
	k = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
	if (memcmp(buf, v2_sig, k) == 0)
		return len < sizeof(v2_sig) ? PROXY_NEED_MORE : parse_v2(buf, len, used, out);
	k = len < 6 ? len : 6;
	if (memcmp(buf, "PROXY ", k) == 0)
		return len < 6 ? PROXY_NEED_MORE : parse_v1(buf, len, used, out);
	return PROXY_BAD;
}

/* Reads exactly n bytes before the deadline: nothing past the header may
 * be consumed, since a TLS ClientHello may follow it. */
static bool
read_exact(int fd, unsigned char *buf, size_t n, long long deadline)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, clock_ms_left(deadline)) <= 0)
			return false;
		r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			return false;
		if (r > 0)
			got += (size_t)r;
	}
	return true;
}

/* Fills buf with one header; returns its length, 0 on failure. */
static size_t
read_header(int fd, unsigned char *buf, long long deadline)
{
	size_t n = 16;

	if (!read_exact(fd, buf, 6, deadline))
		return 0;
	if (memcmp(buf, "PROXY ", 6) == 0) {
		for (n = 6; n < PROXY_V1_MAX; n++) {
			if (!read_exact(fd, buf + n, 1, deadline))
				return 0;
			if (buf[n] == '\n')
				return n + 1;
		}
		return 0;
	}
	if (memcmp(buf, v2_sig, 6) != 0 || !read_exact(fd, buf + 6, 10, deadline))
		return 0;
	n += (size_t)buf[14] << 8 | buf[15];
	return read_exact(fd, buf + 16, n - 16, deadline) ? n : 0;
}

bool
proxy_read(int fd, int timeout_ms, struct proxy_addrs *out, char *err,
    size_t errlen)
{
	unsigned char *buf = xmalloc(PROXY_V2_MAX);
	long long deadline = clock_ms() + timeout_ms;
	size_t len, used;
	bool ok = false;

	if ((len = read_header(fd, buf, deadline)) == 0)
		snprintf(err, errlen, "no complete PROXY header in time");
	else if (proxy_parse(buf, len, &used, out) != PROXY_OK || used != len)
		snprintf(err, errlen, "malformed PROXY header");
	else
		ok = true;
	free(buf);
	return ok;
}
