#ifndef POSTERN_USERS_FILE_H
#define POSTERN_USERS_FILE_H

#include <sys/stat.h>

#include <stdbool.h>
#include <stddef.h>

#include "admin/user_cmd.h"

/* The users file as lines, for a read-modify-write cycle. */
struct users_lines {
	char **v;               /* without their newlines */
	size_t n;
	size_t cap;
	bool existed;
	struct stat st;         /* of the old file, when it existed */
};

/* Index of the first line of NAME at or after from, or -1. */
long users_line_find(const struct users_lines *l, const char *name,
    size_t from);
/* These take ownership of line. */
void users_line_insert(struct users_lines *l, size_t at, char *line);
void users_line_replace(struct users_lines *l, size_t at, char *line);
void users_line_remove(struct users_lines *l, size_t at);

/*
 * Locks "<usersfile>.lock", reads the file (missing: no lines), calls
 * edit(), and if it returns ADMIN_EXIT_OK writes the lines back by
 * temp file, fsync and rename.  Returns edit()'s status or
 * ADMIN_EXIT_ERROR.
 */
int users_file_edit(const struct admin_ctx *ctx,
    int (*edit)(struct users_lines *l, const char *name, void *arg),
    const char *name, void *arg);
/* Has the file a line for NAME?  Read without the lock: a hint. */
bool users_file_has(const struct admin_ctx *ctx, const char *name);

#endif
