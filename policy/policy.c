#include "config.h"

#include "policy/policy.h"

bool
policy_cleartext_allowed(const struct policy_conn *pc)
{
	if (pc->tls_active)
		return true;
	if (pc->cfg->allow_cleartext_without_tls)
		return true;
	return netblock_list_match(pc->cfg->trusted_networks,
	    pc->cfg->ntrusted_networks, pc->client);
}
