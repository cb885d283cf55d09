#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin/status_cmd.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "daemon/scoreboard.h"

/* The master's scoreboard, read-only; NULL after saying why. */
static const struct scoreboard *
map_scoreboard(const char *state_dir, size_t *mapped)
{
	char *path = xasprintf("%s/scoreboard", state_dir);
	const struct scoreboard *sb = MAP_FAILED;
	struct stat st;
	int fd;

	*mapped = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0)
		log_err("%s: %s", path, strerror(errno));
	else if ((size_t)st.st_size < sizeof(*sb))
		log_err("%s: not a scoreboard", path);
	else if ((sb = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd,
	    0)) == MAP_FAILED)
		log_err("%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (sb != MAP_FAILED && (sb->magic != SB_MAGIC || sizeof(*sb) +
	    sb->nslots * sizeof(sb->slots[0]) > (size_t)st.st_size)) {
		log_err("%s: %s", path, sb->magic != SB_MAGIC ? "written by "
		    "another version of posternd" : "truncated");
		munmap((void *)sb, (size_t)st.st_size);
		sb = MAP_FAILED;
	}
	free(path);
	if (sb == MAP_FAILED)
		return NULL;
	*mapped = (size_t)st.st_size;
	return sb;
}

static void
print_slot(const struct sb_slot *s, time_t now)
{
	printf("%-8ld %-4u %-12s %-8ld %-8lu %-40s %s\n", (long)s->pid,
	    s->generation == (unsigned)-1 ? 0 : s->generation,
	    worker_state_name(s->state), (long)(now - s->since), s->sessions,
	    s->client[0] ? s->client : "-", s->user[0] ? s->user : "-");
}

/* "postern status" and "postern metrics" take no arguments and read the
 * scoreboard; NULL after saying why (a usage error when argc != 1). */
static const struct scoreboard *
open_view(const struct config *cfg, int argc, char **argv, size_t *mapped)
{
	if (argc != 1) {
		fprintf(stderr, "usage: postern %s\n", argv[0]);
		return NULL;
	}
	return map_scoreboard(cfg->state_dir, mapped);
}

/* Workers now in each state. */
static void
count_states(const struct scoreboard *sb, unsigned counts[WS_CLOSING + 1])
{
	memset(counts, 0, (WS_CLOSING + 1) * sizeof(counts[0]));
	for (uint32_t i = 0; i < sb->nslots; i++) {
		const struct sb_slot *s = &sb->slots[i];

		if (s->pid > 0 && s->state >= 0 && s->state <= WS_CLOSING)
			counts[s->state]++;
	}
}

int
status_cmd(const struct config *cfg, int argc, char **argv)
{
	const struct scoreboard *sb;
	unsigned counts[WS_CLOSING + 1];
	time_t now = time(NULL);
	size_t mapped;

	if ((sb = open_view(cfg, argc, argv, &mapped)) == NULL)
		return argc != 1 ? 2 : 1;
	printf("master pid %ld: %s\n", (long)sb->master_pid,
	    kill(sb->master_pid, 0) == 0 || errno == EPERM ? "running" : "not running");
	printf("%-8s %-4s %-12s %-8s %-8s %-40s %s\n", "PID", "GEN", "STATE",
	    "SECONDS", "SESSIONS", "CLIENT", "USER");
	for (uint32_t i = 0; i < sb->nslots; i++)
		if (sb->slots[i].pid > 0)
			print_slot(&sb->slots[i], now);
	count_states(sb, counts);
	printf("total: %u idle, %u in handshake, %u authenticating, %u in "
	    "transaction\n", counts[WS_IDLE], counts[WS_HANDSHAKE],
	    counts[WS_AUTH], counts[WS_TRANS]);
	munmap((void *)sb, mapped);
	return 0;
}

int
metrics_cmd(const struct config *cfg, int argc, char **argv)
{
	const struct scoreboard *sb;
	unsigned counts[WS_CLOSING + 1];
	size_t mapped;

	if ((sb = open_view(cfg, argc, argv, &mapped)) == NULL)
		return argc != 1 ? 2 : 1;
	count_states(sb, counts);
	metrics_print(stdout, &sb->metrics, counts, WS_CLOSING + 1,
	    sb->nslots);
	munmap((void *)sb, mapped);
	return fflush(stdout) == 0 ? 0 : 1;
}
