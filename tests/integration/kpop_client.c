/*
 * A tiny Kerberos 5 client for the KPOP tests, built by test_kpop.py with
 * gcc against libkrb5.  KRB5_CONFIG and KRB5CCNAME come from the
 * environment.
 *
 *   kpop_client sendauth FD SERVICE HOST
 *	krb5_sendauth("KPOPV1.0", SERVICE/HOST, mutual auth) on the
 *	inherited, connected socket FD, exactly as fetchmail does it; then
 *	exits, leaving the socket to the caller for the POP3 part.  Prints
 *	"ok" or "error: <code> <server text>" (a KRB-ERROR from the server)
 *	or "failed: <message>".  Exit 0 only for "ok".
 *
 *   kpop_client apreq SERVICE HOST OUTFILE [cached]
 *	Writes a bare AP-REQ (mutual auth requested) for SERVICE/HOST to
 *	OUTFILE, for tests that do the framing themselves (replays, bad
 *	framing).  With "cached" the service ticket is taken from the
 *	ccache as it is, even if it has expired (kvno it first), instead of
 *	through krb5_get_credentials, which would refuse an expired one.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <krb5/krb5.h>

static krb5_context ctx;

static void
die(const char *what, krb5_error_code code)
{
	const char *msg = krb5_get_error_message(ctx, code);

	printf("failed: %s: %s\n", what, msg);
	krb5_free_error_message(ctx, msg);
	exit(2);
}

static krb5_principal
service_principal(const char *service, const char *host)
{
	krb5_principal p;
	krb5_error_code ret;

	ret = krb5_sname_to_principal(ctx, host, service, KRB5_NT_SRV_HST, &p);
	if (ret != 0)
		die("krb5_sname_to_principal", ret);
	return p;
}

static int
do_sendauth(int fd, const char *service, const char *host)
{
	krb5_auth_context ac = NULL;
	krb5_ccache cc;
	krb5_principal server = service_principal(service, host);
	krb5_error *err = NULL;
	krb5_ap_rep_enc_part *rep = NULL;
	krb5_error_code ret;
	int status = 0;

	if ((ret = krb5_cc_default(ctx, &cc)) != 0)
		die("krb5_cc_default", ret);
	ret = krb5_sendauth(ctx, &ac, &fd, "KPOPV1.0", NULL, server,
	    AP_OPTS_MUTUAL_REQUIRED, NULL, NULL, cc, &err, &rep, NULL);
	if (ret == 0)
		printf("ok\n");
	else if (err != NULL) {
		printf("error: %d %.*s\n", (int)err->error,
		    (int)err->text.length, err->text.data);
		status = 1;
	} else {
		const char *msg = krb5_get_error_message(ctx, ret);

		printf("failed: krb5_sendauth: %s\n", msg);
		krb5_free_error_message(ctx, msg);
		status = 1;
	}
	if (err != NULL)
		krb5_free_error(ctx, err);
	if (rep != NULL)
		krb5_free_ap_rep_enc_part(ctx, rep);
	if (ac != NULL)
		krb5_auth_con_free(ctx, ac);
	krb5_free_principal(ctx, server);
	krb5_cc_close(ctx, cc);
	return status;
}

/* The service ticket straight from the ccache, expired or not. */
static void
cached_creds(krb5_ccache cc, krb5_principal server, krb5_creds *out)
{
	krb5_creds match;
	krb5_error_code ret;

	memset(&match, 0, sizeof(match));
	if ((ret = krb5_cc_get_principal(ctx, cc, &match.client)) != 0)
		die("krb5_cc_get_principal", ret);
	match.server = server;
	ret = krb5_cc_retrieve_cred(ctx, cc, 0, &match, out);
	krb5_free_principal(ctx, match.client);
	if (ret != 0)
		die("krb5_cc_retrieve_cred", ret);
}

static int
do_apreq(const char *service, const char *host, const char *path,
    int cached)
{
	krb5_auth_context ac = NULL;
	krb5_ccache cc;
	krb5_principal server = service_principal(service, host);
	krb5_creds in, *creds = NULL, got;
	krb5_data out = { 0 };
	krb5_error_code ret;
	FILE *f;

	if ((ret = krb5_cc_default(ctx, &cc)) != 0)
		die("krb5_cc_default", ret);
	if (cached) {
		cached_creds(cc, server, &got);
		creds = &got;
	} else {
		memset(&in, 0, sizeof(in));
		if ((ret = krb5_cc_get_principal(ctx, cc, &in.client)) != 0)
			die("krb5_cc_get_principal", ret);
		in.server = server;
		ret = krb5_get_credentials(ctx, 0, cc, &in, &creds);
		krb5_free_principal(ctx, in.client);
		if (ret != 0)
			die("krb5_get_credentials", ret);
	}
	ret = krb5_mk_req_extended(ctx, &ac, AP_OPTS_MUTUAL_REQUIRED, NULL,
	    creds, &out);
	if (ret != 0)
		die("krb5_mk_req_extended", ret);
	if ((f = fopen(path, "wb")) == NULL ||
	    fwrite(out.data, 1, out.length, f) != out.length || fclose(f) != 0) {
		printf("failed: %s: %s\n", path, strerror(errno));
		return 2;
	}
	printf("ok %u\n", out.length);
	krb5_free_data_contents(ctx, &out);
	if (cached)
		krb5_free_cred_contents(ctx, &got);
	else
		krb5_free_creds(ctx, creds);
	krb5_auth_con_free(ctx, ac);
	krb5_free_principal(ctx, server);
	krb5_cc_close(ctx, cc);
	return 0;
}

int
main(int argc, char **argv)
{
	krb5_error_code ret;
	int status;

	if ((ret = krb5_init_context(&ctx)) != 0) {
		printf("failed: krb5_init_context: %d\n", (int)ret);
		return 2;
	}
	if (argc == 5 && strcmp(argv[1], "sendauth") == 0)
		status = do_sendauth(atoi(argv[2]), argv[3], argv[4]);
	else if ((argc == 5 || argc == 6) && strcmp(argv[1], "apreq") == 0)
		status = do_apreq(argv[2], argv[3], argv[4],
		    argc == 6 && strcmp(argv[5], "cached") == 0);
	else {
		fprintf(stderr, "usage: kpop_client sendauth FD SERVICE HOST\n"
		    "       kpop_client apreq SERVICE HOST OUTFILE [cached]\n");
		status = 2;
	}
	fflush(stdout);
	krb5_free_context(ctx);
	return status;
}
