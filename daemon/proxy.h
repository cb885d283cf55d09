#ifndef POSTERN_PROXY_H
#define POSTERN_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* PROXY protocol v1 and v2 (HAProxy's specification), accepted only from
 * the load balancers listed in proxy_networks, so that policy, throttling
 * and audit see the real client. */

#define PROXY_V1_MAX 107        /* longest v1 line, CRLF included */
#define PROXY_V2_MAX (16 + 65535)

enum proxy_status {
	PROXY_OK,
	PROXY_NEED_MORE,  /* a valid prefix: read more */
	PROXY_BAD,
};

struct proxy_addrs {
	bool local;       /* LOCAL / UNKNOWN: the balancer's own connection */
	struct sockaddr_storage src, dst;
};

/* Parses a header at the start of buf; on PROXY_OK *used is its length. */
enum proxy_status proxy_parse(const unsigned char *buf, size_t len,
    size_t *used, struct proxy_addrs *out);
/* Reads exactly one header from fd (nothing after it), within timeout_ms. */
bool proxy_read(int fd, int timeout_ms, struct proxy_addrs *out, char *err,
    size_t errlen);

#endif
