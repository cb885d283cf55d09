#ifndef POSTERN_DIRECTORY_H
#define POSTERN_DIRECTORY_H

#include <stdbool.h>

/* One interface for every user database (users file, LDAP). */

enum dir_result {
	DIR_OK,
	DIR_NOTFOUND,
	DIR_TEMPFAIL,   /* directory unreachable: [SYS/TEMP] */
};

struct user_record {
	char *name;             /* canonical login name */
	char *maildrop;         /* absolute path of the maildir */
	bool enabled;
	char *scram_sha256;     /* RFC 5803 "SCRAM-SHA-256$iter:salt$stored:server" */
	char *scram_sha1;       /* same form, SCRAM-SHA-1 */
	char *crypt_hash;       /* crypt(3), e.g. "$6$..." or "$y$..." */
	int login_delay;        /* -1: global default */
	int expire_days;        /* -1: global default */
	char *source;           /* "file:/etc/postern/users" or an LDAP DN */
};

struct directory;

struct directory_file_options {
	const char *path;       /* users file */
	const char *store_root; /* base for relative maildrop paths */
};

struct directory *directory_file_open(const struct directory_file_options *o);
enum dir_result directory_lookup(struct directory *d, const char *name,
    struct user_record **out);
void directory_close(struct directory *d);
void user_record_free(struct user_record *u);

#endif
