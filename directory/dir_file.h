#ifndef POSTERN_DIR_FILE_H
#define POSTERN_DIR_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "directory/directory.h"

/* The users-file backend.  The format is described at the top of
 * dir_file.c and in postern(8). */

#define DIR_NAME_MAX 64
/* A users file larger than this is refused (DIR_TEMPFAIL): 100k users
 * with three verifiers each take about 35 MB, so this leaves ample room
 * while stopping a runaway file from exhausting every worker's memory. */
#define DIR_FILE_MAX_SIZE (256L * 1024 * 1024)
/* A line longer than this is malformed; a user line is about 350 bytes. */
#define DIR_LINE_MAX 8192

/* expire=never in the users file.  Belongs in directory.h next to
 * user_record.expire_days (-1 there means "global default"). */
#ifndef USER_EXPIRE_NEVER
#define USER_EXPIRE_NEVER (-2)
#endif

struct dir_file;

/* Never fails for a missing file: lookups answer DIR_TEMPFAIL until it
 * appears.  NULL only when o->path is missing. */
struct dir_file *dir_file_open(const struct directory_file_options *o);
/* Reads the file now: the master calls it before forking, so that every
 * worker shares the parsed table instead of parsing its own copy. */
enum dir_result dir_file_preload(struct dir_file *df);
/* Re-reads the file first if its inode, size, mtime or ctime changed. */
enum dir_result dir_file_lookup(struct dir_file *df, const char *name,
    struct user_record **out);
/* Calls fn for every valid user, in name order. */
enum dir_result dir_file_foreach(struct dir_file *df,
    void (*fn)(const struct user_record *u, void *arg), void *arg);
void dir_file_close(struct dir_file *df);

/* Helpers for tools that edit the file ("postern user ..."), so that they
 * never write a line the parser would skip. */

/* 1-64 chars of [A-Za-z0-9._@+-], and not "." or "..". */
bool dir_file_name_valid(const char *name);
/* NULL if value is acceptable as maildrop=, else why not.  store_root may
 * be NULL, in which case only absolute paths are acceptable. */
const char *dir_file_maildrop_check(const char *value, const char *store_root);
/* Copies a user line's NAME field into name_r; false for blank lines,
 * comments and fields that do not fit. */
bool dir_file_line_name(const char *line, char *name_r, size_t size);
/* Returns a new line with key=value set (replaced in place, or appended);
 * value NULL removes the key.  Fields are joined with one space. */
char *dir_file_line_set(const char *line, const char *key, const char *value);

#endif
