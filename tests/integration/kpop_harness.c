#include "config.h"

/*
 * Drives kpop_handshake() (sasl/kpop.c) directly, without the daemon: the
 * component test of test_kpop.py.  Built by the test with the flags of the
 * build under test (sanitizers included) and linked with its libpsasl.a.
 *
 *   kpop_harness KEYTAB SERVICE REALMS RCACHE_DIR TIMEOUT_MS
 *
 * Listens on 127.0.0.1 (a kernel-chosen port, printed as "port N"), and
 * serves one connection at a time: the handshake, then on success the line
 * "+OK kpop harness" and a close.  For each connection it prints
 *   ok <ms> <principal> <user>      or      fail <ms> <reason>
 * It exits cleanly (so LeakSanitizer runs) when its stdin is closed.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sasl/kpop.h"

static const char greeting[] = "+OK kpop harness\r\n";

static int
listen_any(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
		perror("kpop_harness: listen");
		exit(2);
	}
	printf("port %d\n", ntohs(sin.sin_port));
	fflush(stdout);
	return fd;
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	    (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void
serve(int fd, const struct kpop_options *o)
{
	struct kpop_result res;
	struct timespec t0;
	char err[512];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (kpop_handshake(fd, o, &res, err, sizeof(err))) {
		printf("ok %ld %s %s\n", ms_since(&t0), res.principal,
		    res.user);
		(void)!write(fd, greeting, sizeof(greeting) - 1);
	} else
		printf("fail %ld %s\n", ms_since(&t0), err);
	fflush(stdout);
	close(fd);
}

int
main(int argc, char **argv)
{
	struct kpop_options o;
	struct pollfd pfd[2];
	char buf[64];
	int lfd, fd;

	if (argc != 6) {
		fprintf(stderr, "usage: kpop_harness KEYTAB SERVICE REALMS "
		    "RCACHE_DIR TIMEOUT_MS\n");
		return 2;
	}
	o.keytab = argv[1];
	o.service = argv[2];
	o.realms = argv[3];
	o.rcache_dir = argv[4];
	o.timeout_ms = atoi(argv[5]);
	lfd = listen_any();
	pfd[0].fd = 0;
	pfd[0].events = POLLIN;
	pfd[1].fd = lfd;
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) < 0)
			continue;
		if (pfd[0].revents != 0 && read(0, buf, sizeof(buf)) <= 0)
			break;
		if ((pfd[1].revents & POLLIN) &&
		    (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
			serve(fd, &o);
	}
	close(lfd);
	return 0;
}
