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

static const struct scoreboard *
map_scoreboard(const char *state_dir, size_t *size)
{
	char *path = xasprintf("%s/scoreboard", state_dir);
	const struct scoreboard *sb = MAP_FAILED;
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0 ||
	    (size_t)st.st_size < sizeof(*sb))
		log_err("%s: %s", path, fd < 0 ? strerror(errno) : "not a scoreboard");
	else if ((sb = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd,
	    0)) == MAP_FAILED)
		log_err("%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(path);
	*size = sb == MAP_FAILED ? 0 : (size_t)sb->nslots;
	if (sb != MAP_FAILED && sizeof(*sb) + sb->nslots * sizeof(sb->slots[0]) >
	    (size_t)st.st_size) {
		munmap((void *)sb, (size_t)st.st_size);
		log_err("scoreboard is truncated");
		return NULL;
	}
	return sb == MAP_FAILED ? NULL : sb;
}

static void
print_slot(const struct sb_slot *s, time_t now)
{
	printf("%-8ld %-4u %-12s %-8ld %-8lu %-40s %s\n", (long)s->pid,
	    s->generation == (unsigned)-1 ? 0 : s->generation,
	    worker_state_name(s->state), (long)(now - s->since), s->sessions,
	    s->client[0] ? s->client : "-", s->user[0] ? s->user : "-");
}

int
status_cmd(const struct config *cfg, int argc, char **argv)
{
	const struct scoreboard *sb;
	int counts[WS_CLOSING + 1] = { 0 };
	time_t now = time(NULL);
	size_t n;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: postern status\n");
		return 2;
	}
	if ((sb = map_scoreboard(cfg->state_dir, &n)) == NULL)
		return 1;
	printf("master pid %ld: %s\n", (long)sb->master_pid,
	    kill(sb->master_pid, 0) == 0 || errno == EPERM ? "running" : "not running");
	printf("%-8s %-4s %-12s %-8s %-8s %-40s %s\n", "PID", "GEN", "STATE",
	    "SECONDS", "SESSIONS", "CLIENT", "USER");
	for (size_t i = 0; i < n; i++) {
		const struct sb_slot *s = &sb->slots[i];

		if (s->pid <= 0)
			continue;
		print_slot(s, now);
		if (s->state >= 0 && s->state <= WS_CLOSING)
			counts[s->state]++;
	}
	printf("total: %d idle, %d in handshake, %d authenticating, %d in "
	    "transaction\n", counts[WS_IDLE], counts[WS_HANDSHAKE],
	    counts[WS_AUTH], counts[WS_TRANS]);
	munmap((void *)sb, sizeof(*sb) + n * sizeof(sb->slots[0]));
	return 0;
}
