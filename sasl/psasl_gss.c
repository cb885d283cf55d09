#include "config.h"

/* GSSAPI acceptor credentials for the SASL GSSAPI mechanism. Runs only in
 * the workers: see psasl_gss_acquire(). */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <sasl/sasl.h>

#include "common/log.h"
#include "sasl/psasl.h"
#include "sasl/psasl_int.h"

/* Acceptor credentials from the keytab, acquired in the worker the first
 * time GSSAPI is used and kept for the life of the process. */
static gss_cred_id_t psasl_gss_cred = GSS_C_NO_CREDENTIAL;

static void
psasl_gss_log(const char *what, OM_uint32 major, OM_uint32 minor)
{
	OM_uint32 min2, ctx = 0;
	gss_buffer_desc mj = GSS_C_EMPTY_BUFFER, mn = GSS_C_EMPTY_BUFFER;

	(void)gss_display_status(&min2, major, GSS_C_GSS_CODE, GSS_C_NO_OID,
	    &ctx, &mj);
	ctx = 0;
	(void)gss_display_status(&min2, minor, GSS_C_MECH_CODE, GSS_C_NO_OID,
	    &ctx, &mn);
	log_warn("sasl: %s for service %s, keytab %s: %.*s: %.*s", what,
	    psasl_opt.service, psasl_opt.keytab, (int)mj.length,
	    mj.value != NULL ? (const char *)mj.value : "", (int)mn.length,
	    mn.value != NULL ? (const char *)mn.value : "");
	gss_release_buffer(&min2, &mj);
	gss_release_buffer(&min2, &mn);
}

/* Credentials for "service@<any host>" from the configured keytab. Done
 * in the worker, never in the root master: the keys are read as the user
 * that will use them, and nothing GSS-related crosses fork. */
static bool
psasl_gss_acquire(void)
{
	OM_uint32 major, minor, min2;
	gss_buffer_desc buf;
	gss_name_t name = GSS_C_NO_NAME;
	gss_key_value_element_desc el = { "keytab", psasl_opt.keytab };
	gss_key_value_set_desc store = { 1, &el };
	gss_OID_set_desc krb5 = { 1, (gss_OID)gss_mech_krb5 };
	const char *path = psasl_opt.keytab;

	/* An unreadable keytab is the usual failure: say so plainly (and
	 * spare MIT's failure path, which leaks a principal each time). */
	if (strncmp(path, "FILE:", 5) == 0)
		path += 5;
	if (path[0] == '/' && access(path, R_OK) != 0) {
		log_warn("sasl: GSSAPI keytab %s: %s", path, strerror(errno));
		return false;
	}
	buf.value = psasl_opt.service;
	buf.length = strlen(psasl_opt.service);
	major = gss_import_name(&minor, &buf, GSS_C_NT_HOSTBASED_SERVICE,
	    &name);
	if (GSS_ERROR(major)) {
		psasl_gss_log("gss_import_name", major, minor);
		return false;
	}
	major = gss_acquire_cred_from(&minor, name, GSS_C_INDEFINITE, &krb5,
	    GSS_C_ACCEPT, &store, &psasl_gss_cred, NULL, NULL);
	gss_release_name(&min2, &name);
	if (GSS_ERROR(major)) {
		psasl_gss_log("cannot acquire GSSAPI acceptor credentials",
		    major, minor);
		psasl_gss_cred = GSS_C_NO_CREDENTIAL;
		return false;
	}
	return true;
}

static bool
psasl_gss_attach(struct psasl *s)
{
	int r;

	if (psasl_gss_cred == GSS_C_NO_CREDENTIAL && !psasl_gss_acquire()) {
		snprintf(s->detail, sizeof(s->detail),
		    "no GSSAPI acceptor credentials");
		return false;
	}
	if ((r = sasl_setprop(s->conn, SASL_GSS_CREDS, psasl_gss_cred)) !=
	    SASL_OK) {
		snprintf(s->detail, sizeof(s->detail), "SASL_GSS_CREDS: %s",
		    sasl_errstring(r, NULL, NULL));
		log_warn("sasl: %s", s->detail);
		return false;
	}
	return true;
}

/* GSSAPI's checks before libsasl2 sees the first token. */
bool
psasl_gss_ready(struct psasl *s, bool has_initial, size_t inlen,
    enum resp_code *rc)
{
	/* The first GSSAPI token is never empty: "=" is a client error,
	 * and libsasl2 would answer it with a token. */
	if (has_initial && inlen == 0) {
		*rc = RC_AUTH;
		snprintf(s->detail, sizeof(s->detail),
		    "empty GSSAPI initial response");
		return false;
	}
	if (!psasl_gss_attach(s)) {
		*rc = RC_SYS_TEMP;
		return false;
	}
	return true;
}

void
psasl_gss_done(void)
{
	OM_uint32 minor;

	if (psasl_gss_cred != GSS_C_NO_CREDENTIAL)
		gss_release_cred(&minor, &psasl_gss_cred);
}
