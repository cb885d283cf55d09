#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "daemon/master.h"
#include "daemon/tls.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: posternd [-c config] [-f] [-d] [-t] [-V]\n"
	    "  -c FILE  configuration file (default %s)\n"
	    "  -f       stay in the foreground, log to stderr as well\n"
	    "  -d       debug logging\n"
	    "  -t       check the configuration and exit\n"
	    "  -V       print the version and exit\n", conf_default_path());
	exit(2);
}

static void
default_hostname(struct config *cfg)
{
	char host[256];

	if (cfg->hostname)
		return;
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	cfg->hostname = xstrdup(host);
}

/* -t: the config parses, and the keys and certificates load. */
static int
check_config(struct config *cfg)
{
	char err[512];
	SSL_CTX *ctx;

	if ((ctx = tls_ctx_new(cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: TLS: %s\n", cfg->path, err);
		return 1;
	}
	tls_ctx_free(ctx);
	printf("%s: configuration OK\n", cfg->path);
	return 0;
}

static void
daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		fatal("fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		fatal("setsid: %s", strerror(errno));
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	if (chdir("/") < 0)
		fatal("chdir /: %s", strerror(errno));
}

int
main(int argc, char **argv)
{
	const char *path = conf_default_path();
	bool foreground = false, test_only = false;
	struct config *cfg;
	char err[1024];
	int c;

	while ((c = getopt(argc, argv, "c:dftV")) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'd': log_verbose = true; break;
		case 'f': foreground = true; break;
		case 't': test_only = true; break;
		case 'V': printf("posternd %s\n", PACKAGE_VERSION); return 0;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	/* Under systemd stderr goes to the journal, which gets syslog too:
	 * copying would show every line twice. */
	log_open("posternd", LOG_MAIL,
	    test_only || (foreground && getenv("JOURNAL_STREAM") == NULL));
	if ((cfg = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	default_hostname(cfg);
	if (test_only) {
		int r = check_config(cfg);
		config_free(cfg);
		return r;
	}
	if (!foreground)
		daemonize();
	return master_run(cfg, foreground);
}
