/* SPDX-License-Identifier: GPL-2.0 */
/* The tracepoint of s_traced(): a static key inside a moved function. */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM rerand_sites

#if !defined(_SITES_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _SITES_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(s_event,
	    TP_PROTO(u64 x),
	    TP_ARGS(x),
	    TP_STRUCT__entry(__field(u64, x)),
	    TP_fast_assign(__entry->x = x;),
	    TP_printk("x=%llu", __entry->x)
);

#endif /* _SITES_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE sites_trace
#include <trace/define_trace.h>
