#include "config.h"

/* libFuzzer target: the config parser (common/conf.c). config_load()
 * takes a path, so each input is written to a temp file made per run.
 * A config that loads must come back the same through config_dump() and
 * a second load, as posternd -T promises. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "tests/fuzz/fuzz.h"


static char conf_path[256];
static char dump_path[256];

static void
cleanup(void)
{
	unlink(conf_path);
	unlink(dump_path);
}

static void
make_temp(char *path, size_t len, const char *base, const char *name)
{
	int fd;

	snprintf(path, len, "%s/%s.XXXXXX", base, name);
	if ((fd = mkstemp(path)) == -1) {
		perror(path);
		exit(1);
	}
	close(fd);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = fuzz_tmpdir();

	(void)argc;
	(void)argv;
	make_temp(conf_path, sizeof(conf_path), base, "fuzz_conf");
	make_temp(dump_path, sizeof(dump_path), base, "fuzz_conf_dump");
	atexit(cleanup);
	return 0;
}

static void
write_file(const char *path, const void *data, size_t size)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL || fwrite(data, 1, size, fp) != size ||
	    fclose(fp) == EOF) {
		perror(path);
		abort();
	}
}

/* config_dump() into a malloc'd string. */
static char *
dump(const struct config *cfg, size_t *len)
{
	char *text = NULL;
	FILE *fp = open_memstream(&text, len);

	if (fp == NULL)
		abort();
	config_dump(cfg, fp);
	fclose(fp);
	return text;
}

static void
check_dump(const struct config *cfg)
{
	struct config *again;
	char err[1024], *d1, *d2;
	size_t n1, n2;

	d1 = dump(cfg, &n1);
	write_file(dump_path, d1, n1);
	if ((again = config_load(dump_path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "dump does not load: %s\n%s", err, d1);
		abort();
	}
	d2 = dump(again, &n2);
	if (n1 != n2 || memcmp(d1, d2, n1) != 0) {
		fprintf(stderr, "dump changed on reload:\n%s---\n%s", d1, d2);
		abort();
	}
	free(d1);
	free(d2);
	config_free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg;
	char err[1024];

	write_file(conf_path, data, size);
	if ((cfg = config_load(conf_path, err, sizeof(err))) == NULL) {
		if (err[0] == '\0')
			abort();	/* a refusal always says why */
		return 0;
	}
	check_dump(cfg);
	config_free(cfg);
	return 0;
}
