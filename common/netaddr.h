#ifndef POSTERN_NETADDR_H
#define POSTERN_NETADDR_H

#include <stdbool.h>
#include <sys/socket.h>

/* An address block such as 10.0.0.0/8 or ::1/128. */
struct netblock {
	int family;
	unsigned char addr[16];
	int prefix;
};

/* Parses "ADDR" or "ADDR/PREFIX"; false on malformed input. */
bool netblock_parse(const char *text, struct netblock *out);
/* IPv4-mapped IPv6 addresses match IPv4 blocks. */
bool netblock_match(const struct netblock *nb, const struct sockaddr *sa);
bool netblock_list_match(const struct netblock *list, int n,
    const struct sockaddr *sa);
/* "192.0.2.1" / "2001:db8::1" into buf; port into *port when non-NULL. */
void sockaddr_format(const struct sockaddr *sa, char *buf, size_t len,
    int *port);

#endif
