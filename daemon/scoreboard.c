#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "daemon/scoreboard.h"

static int notify_fd = -1;
static size_t sb_size;

static size_t
scoreboard_size(int nslots)
{
	return sizeof(struct scoreboard) + (size_t)nslots * sizeof(struct sb_slot);
}

static void *
map_file(const char *state_dir, size_t size)
{
	char *path = xasprintf("%s/scoreboard", state_dir);
	void *p = MAP_FAILED;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd >= 0 && ftruncate(fd, (off_t)size) == 0)
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		log_warn("scoreboard %s: %s; \"postern status\" will not see "
		    "workers", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(path);
	return p;
}

struct scoreboard *
scoreboard_create(const char *state_dir, int nslots)
{
	struct scoreboard *sb = MAP_FAILED;

	sb_size = scoreboard_size(nslots);
	if (state_dir)
		sb = map_file(state_dir, sb_size);
	if (sb == MAP_FAILED)
		sb = mmap(NULL, sb_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sb == MAP_FAILED)
		fatal("scoreboard: %s", strerror(errno));
	memset(sb, 0, sb_size);
	sb->magic = SB_MAGIC;
	sb->nslots = (uint32_t)nslots;
	sb->master_pid = getpid();
	return sb;
}

void
scoreboard_destroy(struct scoreboard *sb)
{
	if (sb)
		munmap(sb, sb_size);
}

const char *
worker_state_name(int state)
{
	static const char *const names[] = {
		"free", "starting", "idle", "handshake", "auth", "transaction",
		"closing",
	};

	if (state < 0 || state >= (int)(sizeof(names) / sizeof(names[0])))
		return "?";
	return names[state];
}

void
scoreboard_set_notify_fd(int fd)
{
	notify_fd = fd;
}

void
scoreboard_set(struct sb_slot *slot, enum worker_state st, const char *client,
    const char *user)
{
	int was_idle = slot->state == WS_IDLE;

	slot->state = st;
	slot->since = time(NULL);
	if (client)
		snprintf(slot->client, sizeof(slot->client), "%s", client);
	if (user)
		snprintf(slot->user, sizeof(slot->user), "%s", user);
	if (st == WS_IDLE) {
		slot->client[0] = '\0';
		slot->user[0] = '\0';
	}
	/* One byte tells the master a spare just got busy; a full pipe only
	 * means it already knows. */
	if (was_idle && st != WS_IDLE && notify_fd >= 0) {
		char c = 0;
		ssize_t r = write(notify_fd, &c, 1);
		(void)r;
	}
}

int
scoreboard_count_client(const struct scoreboard *sb, const char *client)
{
	int n = 0;

	for (uint32_t i = 0; i < sb->nslots; i++) {
		const struct sb_slot *s = &sb->slots[i];

		if (s->pid > 0 && s->state >= WS_HANDSHAKE && s->state <= WS_TRANS &&
		    strncmp(s->client, client, sizeof(s->client)) == 0)
			n++;
	}
	return n;
}
