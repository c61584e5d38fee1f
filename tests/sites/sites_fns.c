// SPDX-License-Identifier: GPL-2.0
/*
 * The moved functions with sites: each is small and busy, as the WARN_ON
 * paths of a real module are (bfq, ext4, btrfs). noinline: each must be a
 * body of its own.
 */
#include <linux/bug.h>
#include <linux/uaccess.h>
#include "sites.h"
#define CREATE_TRACE_POINTS
#include "sites_trace.h"

noinline u64 s_warn_once(u64 x)
{
	if (WARN_ON_ONCE(x == S_FIRE))
		return x + 2;
	return x + 1;
}

noinline u64 s_warn(u64 x)
{
	if (WARN_ON(x == S_FIRE))
		return x * 5;
	return x * 3;
}

noinline u64 s_bug(u64 x)
{
	BUG_ON(x == S_FIRE);
	return x ^ 0xbad;
}

noinline int s_peek(const u64 __user *p, u64 *v)
{
	return get_user(*v, p);
}

noinline int s_poke(u64 __user *p, u64 v)
{
	return put_user(v, p);
}

DEFINE_STATIC_KEY_FALSE(s_key);

noinline u64 s_keyed(u64 x)
{
	if (static_branch_unlikely(&s_key))
		return x + 7;
	return x + 3;
}

noinline u64 s_traced(u64 x)
{
	trace_s_event(x);
	return x + 11;
}
