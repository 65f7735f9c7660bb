// SPDX-License-Identifier: Apache-2.0
/*
 * group.c: the classic consumer-group protocol's state machine (control/group.h), after
 * Kafka 3.9's GroupCoordinator and GroupMetadata (kafka.coordinator.group).
 *
 * Control thread only; pure (no I/O, no clock: time is the now_ms argument). Allocates with
 * malloc: groups, members, and copies of every id, metadata and assignment it keeps. Every
 * allocation a request needs happens before the request changes any state, so -ENOMEM
 * leaves the group as it was. Never blocks.
 *
 * States and the functions making each transition:
 *
 *               add_member_and_rebalance -> prepare_rebalance
 *               (the first member joins: the delayed initial rebalance starts)
 *   +-------+ ------------------------------------------------> +--------------------+
 *   | Empty |                                                   | PreparingRebalance | <--+
 *   +-------+ <------------------------------------------------ +--------------------+    |
 *       |      complete_join: nobody left (generation + 1)        |     ^     |  ^        |
 *       |                                                         |     |     +--+        |
 *       |             complete_join: every member rejoined, or    |     |  complete_join: |
 *       |             the rebalance timeout passed (dynamic       |     |  only static    |
 *       |             members that did not rejoin are removed;    |     |  members, none  |
 *       |             generation + 1, protocol selected)          v     |  rejoined: wait |
 *       |                                       +---------------------+ |                 |
 *       |                                       | CompletingRebalance |-+ prepare_rebalance
 *       | sl_group_delete                       +---------------------+                   |
 *       v                                                  |  sl_group_sync from the      |
 *   +------+                                               |  leader: set_and_propagate   |
 *   | Dead |  (freed at once: never in the table)          v                              |
 *   +------+                                          +--------+  prepare_rebalance       |
 *                                                     | Stable | -------------------------+
 *                                                     +--------+
 *
 * complete_join runs from try_complete_join (after every JoinGroup, LeaveGroup or removal
 * in PreparingRebalance) and from join_expire (sl_group_tick: rebalance timeout, end of the
 * initial delay). prepare_rebalance runs for a new member (add_member_and_rebalance), a
 * leader's rejoin or new metadata (update_member_and_rebalance, update_static_member), a
 * member leaving (sl_group_leave) or expiring (sl_group_tick: session, SyncGroup deadline).
 * A group whose last member goes passes PreparingRebalance -> Empty within the same call.
 * sl_group_tab_destroy takes every state to Dead.
 *
 * Invariants (group_check verifies each; SL_ASSERT runs it after every request in debug
 * builds, and the tests call sl_group_tab_check):
 *  1. Empty => no members, and neither the join nor the sync timer is armed.
 *     CompletingRebalance and Stable => at least one member, a selected protocol, and every
 *     member supports it.
 *  2. leader == NULL <=> no members; otherwise the leader is a member.
 *  3. n_awaiting_join counts the members holding a parked JoinGroup (join_cpl); only a
 *     PreparingRebalance group parks JoinGroups.
 *  4. Only a CompletingRebalance group parks SyncGroups (sync_cpl).
 *  5. n_pending_sync counts the members that owe a SyncGroup for the current generation;
 *     there are such members only in CompletingRebalance or Stable, and the sync timer is
 *     armed exactly when there are.
 *  6. The join timer is armed exactly in PreparingRebalance; the delayed initial rebalance
 *     (initial_delay) only runs there.
 *  7. Member ids are unique across members and pending (MEMBER_ID_REQUIRED) ids; a group
 *     instance id belongs to at most one member; pending ids are dynamic members.
 *  8. A group with members has a protocol every member supports (so complete_join can
 *     always select one), and all members joined with the group's protocol type.
 *  9. A member still in its first join (is_new) holds a parked JoinGroup.
 * 10. Scratch space suffices for the next answer without allocating: the member-view array
 *     holds every member and the protocol-name buffer the longest name any member offers.
 * Every completion handed to the module is answered exactly once: when it completes, when
 * its member is removed or fenced, when a newer request of the same member replaces it, or
 * when the table is destroyed.
 *
 * Where sluice differs from Kafka, on purpose:
 *  - A JoinGroup or SyncGroup that a newer one of the same member replaces is answered with
 *    REBALANCE_IN_PROGRESS (Kafka drops it unanswered); a member removed while its SyncGroup
 *    waits (LeaveGroup) gets UNKNOWN_MEMBER_ID (Kafka never answers it).
 *  - A static member that rejoins a Stable group with a new member id causes a rebalance
 *    when its metadata for the selected protocol changed, not only when the selected
 *    protocol would change (Kafka), so a changed subscription is always assigned.
 *  - A static member replacing itself is not refused with GROUP_MAX_SIZE_REACHED.
 *  - A group without members accepts any protocol type (Kafka: only in state Empty).
 *  - Protocol support is counted per member, not per list entry, so a member that lists a
 *    protocol twice does not count twice; vote ties go to the first member's preference.
 *  - A JoinGroup that creates a group and then fails leaves no group behind; an OffsetCommit
 *    check creates a missing group only when it allows the commit.
 */
#include "control/group.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define NEVER INT64_MAX
#define UUID_STR_LEN 36

/* An owned string: p is NUL-terminated (for debugging), len -1 = null (p NULL). */
struct gstr {
	char *p;
	int32_t len;
};

struct gproto {
	const char *name;
	int32_t name_len;
	const uint8_t *meta;
	int32_t meta_len;
};

/* One allocation: the header, n entries, then the names and metadata they point to. */
struct gprotos {
	int32_t n;
	int32_t max_name_len;
	struct gproto e[];
};

struct gmember {
	struct gstr id;
	struct gstr instance_id; /* len -1: dynamic */
	struct gstr client_id;
	struct gstr client_host;
	int32_t session_timeout_ms;
	int32_t rebalance_timeout_ms;
	struct gprotos *protos;
	uint8_t *assignment;
	int32_t assignment_len;
	struct sl_group_join_cpl *join_cpl; /* parked JoinGroup */
	struct sl_group_sync_cpl *sync_cpl; /* parked SyncGroup */
	int64_t hb_deadline_ms;             /* session expiry; NEVER while it need not beat */
	bool is_new;                        /* first JoinGroup not answered yet */
	bool pending_sync;                  /* owes a SyncGroup for this generation */
};

/* A member id handed out with MEMBER_ID_REQUIRED, not yet used to join. */
struct gpending {
	struct gstr id;
	int64_t deadline_ms;
};

struct group {
	struct group *hnext;
	uint32_t hash;
	struct gstr id;
	enum sl_group_state state;
	int32_t generation_id;
	struct gstr protocol_type; /* kept when the group empties, as Kafka does */
	char *pname;               /* selected protocol; pname_len -1 = none */
	int32_t pname_len;
	int32_t pname_cap;
	struct gmember *leader;
	struct gmember **mv; /* members in join order */
	uint32_t n;
	uint32_t cap;
	struct sl_group_member_view *view; /* cap entries: scratch for answers */
	uint32_t n_awaiting_join;
	uint32_t n_pending_sync;
	struct gpending *pv;
	uint32_t npend;
	uint32_t pcap;
	int64_t join_deadline_ms;
	bool initial_delay;    /* the join timer is group.initial.rebalance.delay.ms */
	bool new_member_added; /* a member joined during the initial delay */
	int32_t init_delay_ms;
	int32_t init_remaining_ms;
	int64_t sync_deadline_ms;
};

struct sl_group_tab {
	struct sl_group_cfg cfg;
	struct group **buckets;
	uint32_t nbuckets; /* power of two */
	uint32_t ngroups;
	uint64_t rng;
};

static const struct sl_str STR_NULL = {NULL, -1};
static const struct sl_str STR_EMPTY = {"", 0};

/* ---- small helpers ---- */

static bool
str_ok(struct sl_str s)
{
	return s.len == -1 || (s.len >= 0 && (s.len == 0 || s.p));
}

static bool
blob_ok(struct sl_group_blob b)
{
	return b.len >= 0 && (b.len == 0 || b.p);
}

static bool
str_eq(struct sl_str a, struct sl_str b)
{
	return a.len == b.len && (a.len <= 0 || memcmp(a.p, b.p, (size_t)a.len) == 0);
}

/* Null member ids count as "" (Kafka's UNKNOWN_MEMBER_ID). */
static struct sl_str
norm(struct sl_str s)
{
	return s.len < 0 ? STR_EMPTY : s;
}

static struct sl_str
gview(const struct gstr *s)
{
	return (struct sl_str){s->p, s->len};
}

static struct sl_str
gview_or_empty(const struct gstr *s)
{
	return s->len < 0 ? STR_EMPTY : gview(s);
}

static int
gstr_dup(struct gstr *out, struct sl_str s)
{
	out->p = NULL;
	out->len = -1;
	if (s.len < 0)
		return 0;
	out->p = malloc((size_t)s.len + 1);
	if (!out->p)
		return -ENOMEM;
	if (s.len)
		memcpy(out->p, s.p, (size_t)s.len);
	out->p[s.len] = '\0';
	out->len = s.len;
	return 0;
}

static void
gstr_free(struct gstr *s)
{
	free(s->p);
	s->p = NULL;
	s->len = -1;
}

/* Deadline ms after now; at least 1 ms, so a timer re-armed by a tick is never due within
 * the same tick (sl_group_tick terminates). */
static int64_t
after(int64_t now, int32_t ms)
{
	int64_t d = ms > 0 ? ms : 1;

	return now > NEVER - 1 - d ? NEVER - 1 : now + d;
}

static uint32_t
fnv1a(struct sl_str s)
{
	uint32_t h = 2166136261u;

	for (int32_t i = 0; i < s.len; i++)
		h = (h ^ (uint8_t)s.p[i]) * 16777619u;
	return h;
}

static uint64_t
splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ---- protocols ---- */

static struct gprotos *
protos_dup(const struct sl_group_protocol *v, int32_t n)
{
	size_t bytes = sizeof(struct gprotos) + (size_t)n * sizeof(struct gproto);
	struct gprotos *ps;
	char *w;

	for (int32_t i = 0; i < n; i++)
		bytes += (size_t)v[i].name.len + 1 + (size_t)v[i].metadata.len;
	ps = malloc(bytes);
	if (!ps)
		return NULL;
	ps->n = n;
	ps->max_name_len = 0;
	w = (char *)&ps->e[n];
	for (int32_t i = 0; i < n; i++) {
		struct gproto *e = &ps->e[i];

		e->name = w;
		e->name_len = v[i].name.len;
		if (e->name_len)
			memcpy(w, v[i].name.p, (size_t)e->name_len);
		w[e->name_len] = '\0';
		w += e->name_len + 1;
		e->meta = (const uint8_t *)w;
		e->meta_len = v[i].metadata.len;
		if (e->meta_len)
			memcpy(w, v[i].metadata.p, (size_t)e->meta_len);
		w += e->meta_len;
		ps->max_name_len = SL_MAX(ps->max_name_len, e->name_len);
	}
	return ps;
}

static struct sl_str
proto_name(const struct gproto *p)
{
	return (struct sl_str){p->name, p->name_len};
}

/* The first entry named name, or -1. */
static int32_t
protos_index(const struct gprotos *ps, struct sl_str name)
{
	for (int32_t i = 0; i < ps->n; i++)
		if (str_eq(proto_name(&ps->e[i]), name))
			return i;
	return -1;
}

static struct sl_group_blob
protos_meta(const struct gprotos *ps, struct sl_str name)
{
	int32_t i = protos_index(ps, name);

	if (i < 0)
		return (struct sl_group_blob){NULL, 0};
	return (struct sl_group_blob){ps->e[i].meta, ps->e[i].meta_len};
}

/* Kafka's MemberMetadata.matches: the same protocols, in the same order, same metadata. */
static bool
protos_match(const struct gprotos *ps, const struct sl_group_protocol *v, int32_t n)
{
	if (ps->n != n)
		return false;
	for (int32_t i = 0; i < n; i++) {
		const struct gproto *e = &ps->e[i];

		if (!str_eq(proto_name(e), v[i].name) || e->meta_len != v[i].metadata.len ||
		    (e->meta_len && memcmp(e->meta, v[i].metadata.p, (size_t)e->meta_len)))
			return false;
	}
	return true;
}

static bool
blob_eq(struct sl_group_blob a, struct sl_group_blob b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, (size_t)a.len) == 0);
}

/* ---- members and lookups ---- */

static void
member_free(struct gmember *m)
{
	if (!m)
		return;
	gstr_free(&m->id);
	gstr_free(&m->instance_id);
	gstr_free(&m->client_id);
	gstr_free(&m->client_host);
	free(m->protos);
	free(m->assignment);
	free(m);
}

static struct gmember *
find_member(const struct group *g, struct sl_str id)
{
	for (uint32_t i = 0; i < g->n; i++)
		if (str_eq(gview(&g->mv[i]->id), id))
			return g->mv[i];
	return NULL;
}

static struct gmember *
find_static(const struct group *g, struct sl_str instance_id)
{
	if (instance_id.len < 0)
		return NULL;
	for (uint32_t i = 0; i < g->n; i++)
		if (g->mv[i]->instance_id.len >= 0 &&
		    str_eq(gview(&g->mv[i]->instance_id), instance_id))
			return g->mv[i];
	return NULL;
}

static int64_t
pending_find(const struct group *g, struct sl_str id)
{
	for (uint32_t i = 0; i < g->npend; i++)
		if (str_eq(gview(&g->pv[i].id), id))
			return i;
	return -1;
}

static void
pending_remove_at(struct group *g, uint32_t i)
{
	gstr_free(&g->pv[i].id);
	memmove(&g->pv[i], &g->pv[i + 1], (g->npend - i - 1) * sizeof(g->pv[0]));
	g->npend--;
}

static void
pending_remove(struct group *g, struct sl_str id)
{
	int64_t i = pending_find(g, id);

	if (i >= 0)
		pending_remove_at(g, (uint32_t)i);
}

/* Takes ownership of *id (freed on failure). */
static int
pending_add(struct group *g, struct gstr *id, int64_t deadline_ms)
{
	if (g->npend == g->pcap) {
		uint32_t ncap = g->pcap ? g->pcap * 2 : 4;
		struct gpending *pv = realloc(g->pv, ncap * sizeof(*pv));

		if (!pv) {
			gstr_free(id);
			return -ENOMEM;
		}
		g->pv = pv;
		g->pcap = ncap;
	}
	g->pv[g->npend].id = *id;
	g->pv[g->npend].deadline_ms = deadline_ms;
	g->npend++;
	id->p = NULL;
	id->len = -1;
	return 0;
}

static bool
id_in_use(const struct group *g, struct sl_str id)
{
	return find_member(g, id) || pending_find(g, id) >= 0;
}

/* Kafka's GroupMetadata.generateMemberId: "<prefix>-<random UUID>", unique in the group. */
static int
gen_member_id(struct sl_group_tab *t, const struct group *g, struct sl_str prefix, struct gstr *out)
{
	int32_t plen = prefix.len > 0 ? prefix.len : 0;
	char *p = malloc((size_t)plen + 1 + UUID_STR_LEN + 1);

	if (!p)
		return -ENOMEM;
	if (plen)
		memcpy(p, prefix.p, (size_t)plen);
	p[plen] = '-';
	do {
		uint64_t a = splitmix64(&t->rng), b = splitmix64(&t->rng);

		a = (a & ~0xf000ULL) | 0x4000ULL;       /* version 4 */
		b = (b & ~(3ULL << 62)) | (2ULL << 62); /* RFC 4122 variant */
		snprintf(p + plen + 1, UUID_STR_LEN + 1, "%08x-%04x-%04x-%04x-%012llx",
		         (unsigned)(a >> 32), (unsigned)((a >> 16) & 0xffff),
		         (unsigned)(a & 0xffff), (unsigned)(b >> 48),
		         (unsigned long long)(b & 0xffffffffffffULL));
	} while (id_in_use(g, (struct sl_str){p, plen + 1 + UUID_STR_LEN}));
	out->p = p;
	out->len = plen + 1 + UUID_STR_LEN;
	return 0;
}

static int32_t
group_rebalance_timeout(const struct group *g)
{
	int32_t rt = 0;

	for (uint32_t i = 0; i < g->n; i++)
		rt = SL_MAX(rt, g->mv[i]->rebalance_timeout_ms);
	return rt;
}

static void
hb_rearm(struct gmember *m, int64_t now)
{
	m->hb_deadline_ms = after(now, m->session_timeout_ms);
}

static bool
member_supports(const struct gmember *m, struct sl_str name)
{
	return protos_index(m->protos, name) >= 0;
}

static bool
all_support(const struct group *g, struct sl_str name)
{
	for (uint32_t i = 0; i < g->n; i++)
		if (!member_supports(g->mv[i], name))
			return false;
	return true;
}

/* Kafka's GroupMetadata.supportsProtocols, counted per member. */
static bool
supports_protocols(const struct group *g, const struct sl_group_join_req *req)
{
	if (g->n == 0)
		return req->protocol_type.len > 0 && req->protocols_cnt > 0;
	if (!str_eq(gview(&g->protocol_type), req->protocol_type))
		return false;
	for (int32_t i = 0; i < req->protocols_cnt; i++)
		if (all_support(g, req->protocols[i].name))
			return true;
	return false;
}

/*
 * Kafka's GroupMetadata.selectProtocol: the candidates are the protocols every member
 * supports; each member votes for the first candidate in its own order of preference; the
 * most votes win, ties going to the first member's preference. NULL only if there are no
 * members or no candidate (invariant 8 rules that out).
 */
static const struct gproto *
select_protocol(const struct group *g)
{
	uint32_t votes[SL_GROUP_PROTOCOLS_MAX] = {0};
	bool cand[SL_GROUP_PROTOCOLS_MAX] = {false};
	const struct gprotos *p0;
	int32_t best = -1;

	if (g->n == 0)
		return NULL;
	p0 = g->mv[0]->protos;
	SL_ASSERT(p0->n <= SL_GROUP_PROTOCOLS_MAX);
	for (int32_t i = 0; i < p0->n && i < SL_GROUP_PROTOCOLS_MAX; i++)
		cand[i] = protos_index(p0, proto_name(&p0->e[i])) == i &&
		          all_support(g, proto_name(&p0->e[i]));
	for (uint32_t k = 0; k < g->n; k++) {
		const struct gprotos *ps = g->mv[k]->protos;

		for (int32_t j = 0; j < ps->n; j++) {
			int32_t i = protos_index(p0, proto_name(&ps->e[j]));

			if (i >= 0 && i < SL_GROUP_PROTOCOLS_MAX && cand[i]) {
				votes[i]++;
				break;
			}
		}
	}
	for (int32_t i = 0; i < p0->n && i < SL_GROUP_PROTOCOLS_MAX; i++)
		if (cand[i] && (best < 0 || votes[i] > votes[best]))
			best = i;
	return best < 0 ? NULL : &p0->e[best];
}

static struct sl_str
group_pname(const struct group *g)
{
	return g->pname_len < 0 ? STR_NULL : (struct sl_str){g->pname, g->pname_len};
}

/* Grows the scratch arrays so nmembers fit and the name buffer holds name_len bytes. */
static int
group_reserve(struct group *g, uint32_t nmembers, int32_t name_len)
{
	if (nmembers > g->cap) {
		uint32_t ncap = g->cap ? g->cap : 4;
		struct gmember **mv;
		struct sl_group_member_view *view;

		while (ncap < nmembers)
			ncap *= 2;
		mv = realloc(g->mv, ncap * sizeof(*mv));
		if (!mv)
			return -ENOMEM;
		g->mv = mv;
		view = realloc(g->view, ncap * sizeof(*view));
		if (!view)
			return -ENOMEM; /* mv is merely larger than needed */
		g->view = view;
		g->cap = ncap;
	}
	if (name_len + 1 > g->pname_cap) {
		char *p = realloc(g->pname, (size_t)name_len + 1);

		if (!p)
			return -ENOMEM;
		g->pname = p;
		g->pname_cap = name_len + 1;
	}
	return 0;
}

/* Fills g->view for the answer being built; valid until the members change. */
static const struct sl_group_member_view *
build_view(struct group *g, bool with_metadata, bool with_assignment)
{
	for (uint32_t i = 0; i < g->n; i++) {
		const struct gmember *m = g->mv[i];
		struct sl_group_member_view *v = &g->view[i];

		v->member_id = gview(&m->id);
		v->group_instance_id = gview(&m->instance_id);
		v->client_id = gview_or_empty(&m->client_id);
		v->client_host = gview_or_empty(&m->client_host);
		v->metadata = (struct sl_group_blob){NULL, 0};
		v->assignment = (struct sl_group_blob){NULL, 0};
		if (with_metadata && g->pname_len >= 0)
			v->metadata = protos_meta(m->protos, group_pname(g));
		if (with_assignment)
			v->assignment = (struct sl_group_blob){m->assignment, m->assignment_len};
	}
	return g->view;
}

/* ---- answers ---- */

static void
answer_join_err(struct sl_group_join_cpl *cpl, struct sl_str member_id, int16_t err)
{
	struct sl_group_join_resp r = {
	        .error_code = err,
	        .generation_id = -1,
	        .protocol_type = STR_NULL,
	        .protocol_name = STR_NULL,
	        .leader = STR_EMPTY,
	        .member_id = norm(member_id),
	        .members = NULL,
	        .members_cnt = 0,
	};

	cpl->fn(cpl, &r);
}

/* The current generation, as a JoinGroup answer (members only for the leader). */
static void
answer_join_current(struct group *g, struct sl_group_join_cpl *cpl, struct sl_str member_id,
                    struct sl_str leader, bool with_members)
{
	struct sl_group_join_resp r = {
	        .error_code = SL_GROUP_KERR_NONE,
	        .generation_id = g->generation_id,
	        .protocol_type = gview(&g->protocol_type),
	        .protocol_name = group_pname(g),
	        .leader = leader,
	        .member_id = member_id,
	        .members = NULL,
	        .members_cnt = 0,
	};

	if (with_members) {
		r.members = build_view(g, true, false);
		r.members_cnt = (int32_t)g->n;
	}
	cpl->fn(cpl, &r);
}

static void
answer_sync_err(struct sl_group_sync_cpl *cpl, int16_t err)
{
	struct sl_group_sync_resp r = {
	        .error_code = err,
	        .protocol_type = STR_NULL,
	        .protocol_name = STR_NULL,
	        .assignment = {NULL, 0},
	};

	cpl->fn(cpl, &r);
}

static void
answer_sync_ok(const struct group *g, struct sl_group_sync_cpl *cpl, const struct gmember *m)
{
	struct sl_group_sync_resp r = {
	        .error_code = SL_GROUP_KERR_NONE,
	        .protocol_type = gview(&g->protocol_type),
	        .protocol_name = group_pname(g),
	        .assignment = {m->assignment, m->assignment_len},
	};

	cpl->fn(cpl, &r);
}

/* Parks cpl as m's JoinGroup; a JoinGroup it replaces is told to retry. */
static void
set_join_cpl(struct group *g, struct gmember *m, struct sl_group_join_cpl *cpl)
{
	struct sl_group_join_cpl *old = m->join_cpl;

	m->join_cpl = cpl;
	if (old)
		answer_join_err(old, gview(&m->id), SL_GROUP_KERR_REBALANCE_IN_PROGRESS);
	else
		g->n_awaiting_join++;
}

static struct sl_group_join_cpl *
take_join_cpl(struct group *g, struct gmember *m)
{
	struct sl_group_join_cpl *c = m->join_cpl;

	if (c) {
		m->join_cpl = NULL;
		g->n_awaiting_join--;
	}
	return c;
}

static void
clear_pending_sync(struct group *g, struct gmember *m)
{
	if (!m->pending_sync)
		return;
	m->pending_sync = false;
	if (--g->n_pending_sync == 0)
		g->sync_deadline_ms = NEVER;
}

/* ---- removal ---- */

static void
member_unlink(struct group *g, struct gmember *m)
{
	uint32_t i = 0;

	while (i < g->n && g->mv[i] != m)
		i++;
	SL_BUG_ON(i == g->n);
	memmove(&g->mv[i], &g->mv[i + 1], (g->n - i - 1) * sizeof(g->mv[0]));
	g->n--;
	if (m->join_cpl)
		g->n_awaiting_join--;
	clear_pending_sync(g, m);
	if (g->leader == m)
		g->leader = g->n ? g->mv[0] : NULL;
}

/* Kafka's GroupMetadata.remove, plus answering whatever the member had parked. */
static void
remove_member(struct group *g, struct gmember *m, int16_t join_err)
{
	struct sl_group_join_cpl *jc = m->join_cpl;
	struct sl_group_sync_cpl *sc = m->sync_cpl;

	member_unlink(g, m);
	m->join_cpl = NULL;
	m->sync_cpl = NULL;
	if (jc)
		answer_join_err(jc, STR_EMPTY, join_err);
	if (sc)
		answer_sync_err(sc, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	member_free(m);
}

/* ---- transitions ---- */

static void prepare_rebalance(struct sl_group_tab *t, struct group *g, int64_t now);

static void
reset_and_propagate_error(struct group *g, int16_t err, int64_t now)
{
	for (uint32_t i = 0; i < g->n; i++) {
		struct gmember *m = g->mv[i];
		struct sl_group_sync_cpl *sc = m->sync_cpl;

		free(m->assignment);
		m->assignment = NULL;
		m->assignment_len = 0;
		if (sc) {
			m->sync_cpl = NULL;
			answer_sync_err(sc, err);
			/* its session may have passed while it waited (Kafka's propagateAssignment) */
			hb_rearm(m, now);
		}
	}
}

static bool
elect_joined_leader(struct group *g)
{
	if (!g->leader)
		return false;
	if (g->leader->join_cpl)
		return true;
	for (uint32_t i = 0; i < g->n; i++) {
		if (g->mv[i]->join_cpl) {
			g->leader = g->mv[i];
			return true;
		}
	}
	return false;
}

/* Kafka's onCompleteJoin: PreparingRebalance -> CompletingRebalance or Empty. */
static void
complete_join(struct group *g, int64_t now)
{
	const struct gproto *sel;

	SL_ASSERT(g->state == SL_GROUP_PREPARING_REBALANCE);
	/* dynamic members that did not rejoin in time are gone; static ones stay until their
	 * session expires */
	for (uint32_t i = 0; i < g->n;) {
		struct gmember *m = g->mv[i];

		if (!m->join_cpl && m->instance_id.len < 0)
			remove_member(g, m, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
		else
			i++;
	}
	g->initial_delay = false;
	if (g->n && !elect_joined_leader(g)) {
		/* only static members, none rejoined: wait another rebalance timeout */
		g->join_deadline_ms = after(now, group_rebalance_timeout(g));
		return;
	}
	g->generation_id++;
	g->join_deadline_ms = NEVER;
	if (g->n == 0) {
		g->pname_len = -1;
		g->state = SL_GROUP_EMPTY;
		SL_DEBUG("group %.*s: generation %d is empty", g->id.len, g->id.p,
		         g->generation_id);
		return;
	}
	sel = select_protocol(g);
	SL_ASSERT(sel);
	if (!sel) /* invariant 8 broken: survive with the leader's first choice */
		sel = &g->leader->protos->e[0];
	memcpy(g->pname, sel->name, (size_t)sel->name_len);
	g->pname_len = sel->name_len;
	g->state = SL_GROUP_COMPLETING_REBALANCE;
	SL_DEBUG("group %.*s: generation %d, %u members, protocol %.*s", g->id.len, g->id.p,
	         g->generation_id, g->n, g->pname_len, g->pname);

	for (uint32_t i = 0; i < g->n; i++) {
		struct gmember *m = g->mv[i];
		struct sl_group_join_cpl *jc = take_join_cpl(g, m);

		if (jc)
			answer_join_current(g, jc, gview(&m->id), gview(&g->leader->id),
			                    m == g->leader);
		hb_rearm(m, now);
		m->is_new = false;
		m->pending_sync = true;
	}
	g->n_pending_sync = g->n;
	g->sync_deadline_ms = after(now, group_rebalance_timeout(g));
}

/* Kafka's DelayedJoin.tryComplete: every member rejoined and no MEMBER_ID_REQUIRED id is
 * outstanding (the initial delay never completes early). */
static void
try_complete_join(struct group *g, int64_t now)
{
	if (g->state == SL_GROUP_PREPARING_REBALANCE && !g->initial_delay &&
	    g->n_awaiting_join == g->n && g->npend == 0)
		complete_join(g, now);
}

/* Kafka's prepareRebalance: Empty/CompletingRebalance/Stable -> PreparingRebalance. */
static void
prepare_rebalance(struct sl_group_tab *t, struct group *g, int64_t now)
{
	int32_t rt = group_rebalance_timeout(g);

	if (g->state == SL_GROUP_COMPLETING_REBALANCE)
		reset_and_propagate_error(g, SL_GROUP_KERR_REBALANCE_IN_PROGRESS, now);
	for (uint32_t i = 0; i < g->n; i++)
		g->mv[i]->pending_sync = false;
	g->n_pending_sync = 0;
	g->sync_deadline_ms = NEVER;
	g->new_member_added = false;
	if (g->state == SL_GROUP_EMPTY && t->cfg.initial_rebalance_delay_ms > 0) {
		/* KIP-134: wait for more members before the first generation */
		g->initial_delay = true;
		g->init_delay_ms = t->cfg.initial_rebalance_delay_ms;
		g->init_remaining_ms = SL_MAX(rt - g->init_delay_ms, 0);
		g->join_deadline_ms = after(now, g->init_delay_ms);
	} else {
		g->initial_delay = false;
		g->join_deadline_ms = after(now, rt);
	}
	g->state = SL_GROUP_PREPARING_REBALANCE;
	try_complete_join(g, now);
}

static void
maybe_prepare_rebalance(struct sl_group_tab *t, struct group *g, int64_t now)
{
	if (g->state == SL_GROUP_STABLE || g->state == SL_GROUP_COMPLETING_REBALANCE ||
	    g->state == SL_GROUP_EMPTY)
		prepare_rebalance(t, g, now);
}

/* Kafka's removeMemberAndUpdateGroup. */
static void
remove_member_and_update(struct sl_group_tab *t, struct group *g, struct gmember *m, int64_t now)
{
	remove_member(g, m, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	switch (g->state) {
	case SL_GROUP_STABLE:
	case SL_GROUP_COMPLETING_REBALANCE:
		prepare_rebalance(t, g, now);
		break;
	case SL_GROUP_PREPARING_REBALANCE:
		try_complete_join(g, now);
		break;
	case SL_GROUP_EMPTY:
	case SL_GROUP_DEAD:
		break;
	}
}

/* ---- the table ---- */

void
sl_group_cfg_default(struct sl_group_cfg *c)
{
	c->min_session_timeout_ms = 6000;
	c->max_session_timeout_ms = 1800000;
	c->initial_rebalance_delay_ms = 3000;
	c->max_size = INT32_MAX;
	c->new_member_join_timeout_ms = 300000;
	c->seed = 0;
}

const char *
sl_group_state_name(enum sl_group_state s)
{
	switch (s) {
	case SL_GROUP_EMPTY:
		return "Empty";
	case SL_GROUP_PREPARING_REBALANCE:
		return "PreparingRebalance";
	case SL_GROUP_COMPLETING_REBALANCE:
		return "CompletingRebalance";
	case SL_GROUP_STABLE:
		return "Stable";
	case SL_GROUP_DEAD:
		return "Dead";
	}
	return "Unknown";
}

int
sl_group_tab_create(struct sl_group_tab **out, const struct sl_group_cfg *cfg)
{
	struct sl_group_tab *t;

	if (!out || !cfg)
		return -EINVAL;
	*out = NULL;
	if (cfg->min_session_timeout_ms < 0 || cfg->max_session_timeout_ms < 0 ||
	    cfg->min_session_timeout_ms > cfg->max_session_timeout_ms ||
	    cfg->initial_rebalance_delay_ms < 0 || cfg->max_size < 1 ||
	    cfg->new_member_join_timeout_ms < 0)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	t->rng = cfg->seed;
	t->nbuckets = 64;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

static struct group *
tab_find(const struct sl_group_tab *t, struct sl_str id)
{
	uint32_t h;

	if (id.len < 0)
		return NULL;
	h = fnv1a(id);
	for (struct group *g = t->buckets[h & (t->nbuckets - 1)]; g; g = g->hnext)
		if (g->hash == h && str_eq(gview(&g->id), id))
			return g;
	return NULL;
}

static void
tab_grow(struct sl_group_tab *t)
{
	uint32_t nb = t->nbuckets * 2;
	struct group **b = calloc(nb, sizeof(*b));

	if (!b) /* longer chains, still correct */
		return;
	for (uint32_t i = 0; i < t->nbuckets; i++) {
		struct group *g = t->buckets[i], *next;

		for (; g; g = next) {
			next = g->hnext;
			g->hnext = b[g->hash & (nb - 1)];
			b[g->hash & (nb - 1)] = g;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
}

static int
group_create(struct sl_group_tab *t, struct sl_str id, struct group **out)
{
	struct group *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	if (gstr_dup(&g->id, id)) {
		free(g);
		return -ENOMEM;
	}
	g->hash = fnv1a(id);
	g->state = SL_GROUP_EMPTY;
	g->protocol_type = (struct gstr){NULL, -1};
	g->pname_len = -1;
	g->join_deadline_ms = NEVER;
	g->sync_deadline_ms = NEVER;
	if (t->ngroups >= t->nbuckets)
		tab_grow(t);
	g->hnext = t->buckets[g->hash & (t->nbuckets - 1)];
	t->buckets[g->hash & (t->nbuckets - 1)] = g;
	t->ngroups++;
	*out = g;
	return 0;
}

/* Answers what the members had parked with err, and frees the group (not unlinked). */
static void
group_free(struct group *g, int16_t err)
{
	g->state = SL_GROUP_DEAD;
	for (uint32_t i = 0; i < g->n; i++) {
		struct gmember *m = g->mv[i];

		if (m->join_cpl)
			answer_join_err(m->join_cpl, gview(&m->id), err);
		if (m->sync_cpl)
			answer_sync_err(m->sync_cpl, err);
		member_free(m);
	}
	for (uint32_t i = 0; i < g->npend; i++)
		gstr_free(&g->pv[i].id);
	gstr_free(&g->id);
	gstr_free(&g->protocol_type);
	free(g->pname);
	free(g->mv);
	free(g->view);
	free(g->pv);
	free(g);
}

static void
tab_remove(struct sl_group_tab *t, struct group *g)
{
	struct group **pp = &t->buckets[g->hash & (t->nbuckets - 1)];

	while (*pp != g)
		pp = &(*pp)->hnext;
	*pp = g->hnext;
	t->ngroups--;
	group_free(g, SL_GROUP_KERR_COORDINATOR_NOT_AVAILABLE);
}

void
sl_group_tab_destroy(struct sl_group_tab *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->nbuckets; i++) {
		struct group *g = t->buckets[i], *next;

		for (; g; g = next) {
			next = g->hnext;
			group_free(g, SL_GROUP_KERR_NOT_COORDINATOR);
		}
	}
	free(t->buckets);
	free(t);
}

/* ---- the invariants ---- */

static bool
group_check(const struct group *g)
{
	uint32_t awaiting = 0, pending_sync = 0;
	bool leader_found = false;

	if (g->state == SL_GROUP_DEAD || g->generation_id < 0 || g->n > g->cap)
		return false;
	/* 1 */
	if (g->state == SL_GROUP_EMPTY &&
	    (g->n || g->join_deadline_ms != NEVER || g->sync_deadline_ms != NEVER))
		return false;
	if (g->state == SL_GROUP_COMPLETING_REBALANCE || g->state == SL_GROUP_STABLE) {
		if (!g->n || g->pname_len < 0 || !all_support(g, group_pname(g)))
			return false;
	}
	/* 2 */
	if ((g->leader == NULL) != (g->n == 0))
		return false;
	for (uint32_t i = 0; i < g->n; i++) {
		const struct gmember *m = g->mv[i];

		leader_found |= m == g->leader;
		if (m->join_cpl) {
			awaiting++;
			if (g->state != SL_GROUP_PREPARING_REBALANCE) /* 3 */
				return false;
		}
		if (m->sync_cpl && g->state != SL_GROUP_COMPLETING_REBALANCE) /* 4 */
			return false;
		if (m->pending_sync) {
			pending_sync++;
			if (g->state != SL_GROUP_COMPLETING_REBALANCE &&
			    g->state != SL_GROUP_STABLE)
				return false;
		}
		if (m->is_new && !m->join_cpl) /* 9 */
			return false;
		if (m->protos->max_name_len + 1 > g->pname_cap) /* 10 */
			return false;
		/* 7 */
		for (uint32_t j = i + 1; j < g->n; j++) {
			if (str_eq(gview(&m->id), gview(&g->mv[j]->id)))
				return false;
			if (m->instance_id.len >= 0 &&
			    str_eq(gview(&m->instance_id), gview(&g->mv[j]->instance_id)))
				return false;
		}
		if (pending_find(g, gview(&m->id)) >= 0)
			return false;
	}
	if (g->n && !leader_found)
		return false;
	if (awaiting != g->n_awaiting_join) /* 3 */
		return false;
	if (pending_sync != g->n_pending_sync || /* 5 */
	    (pending_sync > 0) != (g->sync_deadline_ms != NEVER))
		return false;
	/* 6 */
	if ((g->state == SL_GROUP_PREPARING_REBALANCE) != (g->join_deadline_ms != NEVER))
		return false;
	if (g->initial_delay && g->state != SL_GROUP_PREPARING_REBALANCE)
		return false;
	/* 7: pending ids are unique */
	for (uint32_t i = 0; i < g->npend; i++)
		for (uint32_t j = i + 1; j < g->npend; j++)
			if (str_eq(gview(&g->pv[i].id), gview(&g->pv[j].id)))
				return false;
	/* 8 */
	if (g->n && !select_protocol(g))
		return false;
	return true;
}

bool
sl_group_tab_check(const struct sl_group_tab *t)
{
	uint32_t count = 0;

	for (uint32_t i = 0; i < t->nbuckets; i++) {
		for (const struct group *g = t->buckets[i]; g; g = g->hnext) {
			count++;
			if ((g->hash & (t->nbuckets - 1)) != i || !group_check(g))
				return false;
		}
	}
	return count == t->ngroups;
}

/* ---- JoinGroup ---- */

static bool
join_req_ok(const struct sl_group_join_req *req)
{
	if (!str_ok(req->group_id) || !str_ok(req->member_id) || !str_ok(req->group_instance_id) ||
	    !str_ok(req->client_id) || !str_ok(req->client_host) || !str_ok(req->protocol_type) ||
	    req->protocols_cnt < 0 || (req->protocols_cnt > 0 && !req->protocols))
		return false;
	for (int32_t i = 0; i < req->protocols_cnt && i <= SL_GROUP_PROTOCOLS_MAX; i++)
		if (req->protocols[i].name.len < 0 || !str_ok(req->protocols[i].name) ||
		    !blob_ok(req->protocols[i].metadata))
			return false;
	return true;
}

static int32_t
req_rebalance_timeout(const struct sl_group_join_req *req)
{
	return req->rebalance_timeout_ms < 0 ? req->session_timeout_ms : req->rebalance_timeout_ms;
}

/* Kafka's addMemberAndRebalance. Takes ownership of *id. */
static int
add_member_and_rebalance(struct sl_group_tab *t, struct group *g, struct gstr *id,
                         const struct sl_group_join_req *req, int64_t now,
                         struct sl_group_join_cpl *cpl)
{
	struct gmember *m = calloc(1, sizeof(*m));
	struct gstr ptype = {NULL, -1};

	if (!m) {
		gstr_free(id);
		return -ENOMEM;
	}
	m->id = *id;
	id->p = NULL;
	id->len = -1;
	m->protos = protos_dup(req->protocols, req->protocols_cnt);
	if (!m->protos || gstr_dup(&m->instance_id, req->group_instance_id) ||
	    gstr_dup(&m->client_id, req->client_id) ||
	    gstr_dup(&m->client_host, req->client_host) ||
	    group_reserve(g, g->n + 1, m->protos->max_name_len) ||
	    (g->n == 0 && gstr_dup(&ptype, req->protocol_type))) {
		member_free(m);
		return -ENOMEM;
	}
	/* nothing fails from here on */
	m->session_timeout_ms = req->session_timeout_ms;
	m->rebalance_timeout_ms = req_rebalance_timeout(req);
	m->is_new = true;
	if (g->state == SL_GROUP_PREPARING_REBALANCE && g->generation_id == 0)
		g->new_member_added = true;
	if (g->n == 0) {
		gstr_free(&g->protocol_type);
		g->protocol_type = ptype;
	}
	if (!g->leader)
		g->leader = m;
	g->mv[g->n++] = m;
	m->join_cpl = cpl;
	g->n_awaiting_join++;
	pending_remove(g, gview(&m->id));
	/* a new member cannot heartbeat before its first answer: Kafka's NewMemberJoinTimeout */
	m->hb_deadline_ms = after(now, t->cfg.new_member_join_timeout_ms);
	maybe_prepare_rebalance(t, g, now);
	return 0;
}

/* Kafka's updateMemberAndRebalance. */
static int
update_member_and_rebalance(struct sl_group_tab *t, struct group *g, struct gmember *m,
                            const struct sl_group_join_req *req, int64_t now,
                            struct sl_group_join_cpl *cpl)
{
	struct gprotos *ps = protos_dup(req->protocols, req->protocols_cnt);

	if (!ps || group_reserve(g, g->n, ps->max_name_len)) {
		free(ps);
		return -ENOMEM;
	}
	free(m->protos);
	m->protos = ps;
	m->session_timeout_ms = req->session_timeout_ms;
	m->rebalance_timeout_ms = req_rebalance_timeout(req);
	set_join_cpl(g, m, cpl);
	maybe_prepare_rebalance(t, g, now);
	return 0;
}

/* Kafka's updateStaticMemberAndRebalance: a known group.instance.id joins with an unknown
 * member id; it takes over the member under a new id and fences the old id. Takes
 * ownership of *nid. */
static int
update_static_member(struct sl_group_tab *t, struct group *g, struct gmember *m, struct gstr *nid,
                     const struct sl_group_join_req *req, int64_t now,
                     struct sl_group_join_cpl *cpl)
{
	struct gprotos *ps = protos_dup(req->protocols, req->protocols_cnt);
	struct sl_group_join_cpl *old_jc;
	struct sl_group_sync_cpl *old_sc;
	struct gprotos *old_ps;
	struct gstr old_id;
	struct sl_str leader;

	if (!ps || group_reserve(g, g->n, ps->max_name_len)) {
		free(ps);
		gstr_free(nid);
		return -ENOMEM;
	}
	old_id = m->id;
	/* the answer names the leader as it was: a rejoined leader must not believe it leads
	 * a Stable group whose assignment it cannot change (Kafka's comment) */
	leader = g->leader == m ? gview(&old_id) : gview(&g->leader->id);
	old_jc = take_join_cpl(g, m);
	old_sc = m->sync_cpl;
	m->sync_cpl = NULL;
	m->id = *nid;
	nid->p = NULL;
	nid->len = -1;
	if (old_jc)
		answer_join_err(old_jc, gview(&old_id), SL_GROUP_KERR_FENCED_INSTANCE_ID);
	if (old_sc)
		answer_sync_err(old_sc, SL_GROUP_KERR_FENCED_INSTANCE_ID);
	hb_rearm(m, now);
	old_ps = m->protos;
	m->protos = ps;
	m->session_timeout_ms = req->session_timeout_ms;
	m->rebalance_timeout_ms = req_rebalance_timeout(req);
	set_join_cpl(g, m, cpl);

	switch (g->state) {
	case SL_GROUP_STABLE: {
		const struct gproto *sel = select_protocol(g);
		struct sl_str pn = group_pname(g);

		if (sel && str_eq(proto_name(sel), pn) &&
		    blob_eq(protos_meta(old_ps, pn), protos_meta(ps, pn))) {
			take_join_cpl(g, m);
			answer_join_current(g, cpl, gview(&m->id), leader, false);
		} else {
			prepare_rebalance(t, g, now);
		}
		break;
	}
	case SL_GROUP_COMPLETING_REBALANCE:
		/* the leader may already hold the old id in its assignment: start over */
		prepare_rebalance(t, g, now);
		break;
	case SL_GROUP_PREPARING_REBALANCE:
		break; /* answered when the join completes */
	case SL_GROUP_EMPTY:
	case SL_GROUP_DEAD:
		SL_ASSERT(0); /* a group with a static member is not Empty (invariant 1) */
		break;
	}
	free(old_ps);
	gstr_free(&old_id);
	return 0;
}

/* Kafka's doNewMemberJoinGroup (member id empty). */
static int
new_member_join(struct sl_group_tab *t, struct group *g, const struct sl_group_join_req *req,
                int64_t now, struct sl_group_join_cpl *cpl)
{
	bool is_static = req->group_instance_id.len >= 0;
	struct gmember *old;
	struct gstr nid;
	int rc;

	if (!supports_protocols(g, req)) {
		answer_join_err(cpl, STR_EMPTY, SL_GROUP_KERR_INCONSISTENT_GROUP_PROTOCOL);
		return 0;
	}
	rc = gen_member_id(t, g, is_static ? req->group_instance_id : req->client_id, &nid);
	if (rc)
		return rc;
	if (is_static) {
		old = find_static(g, req->group_instance_id);
		if (old)
			return update_static_member(t, g, old, &nid, req, now, cpl);
		return add_member_and_rebalance(t, g, &nid, req, now, cpl);
	}
	if (req->require_known_member_id) {
		rc = pending_add(g, &nid, after(now, req->session_timeout_ms));
		if (rc)
			return rc;
		answer_join_err(cpl, gview(&g->pv[g->npend - 1].id),
		                SL_GROUP_KERR_MEMBER_ID_REQUIRED);
		return 0;
	}
	return add_member_and_rebalance(t, g, &nid, req, now, cpl);
}

/* Kafka's doCurrentMemberJoinGroup (member id given). */
static int
current_member_join(struct sl_group_tab *t, struct group *g, const struct sl_group_join_req *req,
                    struct sl_str mid, int64_t now, struct sl_group_join_cpl *cpl)
{
	bool is_static = req->group_instance_id.len >= 0;
	struct gmember *cur = NULL, *m;

	if (!supports_protocols(g, req)) {
		answer_join_err(cpl, mid, SL_GROUP_KERR_INCONSISTENT_GROUP_PROTOCOL);
		return 0;
	}
	if (pending_find(g, mid) >= 0) {
		struct gstr id;

		if (is_static) { /* pending ids are dynamic: let it start over as static */
			answer_join_err(cpl, mid, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
			return 0;
		}
		if (gstr_dup(&id, mid))
			return -ENOMEM;
		return add_member_and_rebalance(t, g, &id, req, now, cpl);
	}
	if (is_static) {
		cur = find_static(g, req->group_instance_id);
		if (cur && !str_eq(gview(&cur->id), mid)) {
			answer_join_err(cpl, mid, SL_GROUP_KERR_FENCED_INSTANCE_ID);
			return 0;
		}
	}
	m = find_member(g, mid);
	if (!m || (is_static && !cur)) {
		answer_join_err(cpl, mid, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
		return 0;
	}
	switch (g->state) {
	case SL_GROUP_PREPARING_REBALANCE:
		return update_member_and_rebalance(t, g, m, req, now, cpl);
	case SL_GROUP_COMPLETING_REBALANCE:
		/* the same metadata: it probably missed its answer, so repeat it */
		if (protos_match(m->protos, req->protocols, req->protocols_cnt)) {
			answer_join_current(g, cpl, mid, gview(&g->leader->id), m == g->leader);
			return 0;
		}
		return update_member_and_rebalance(t, g, m, req, now, cpl);
	case SL_GROUP_STABLE:
		/* a leader's rejoin rebalances: it may have seen metadata change (new topics) */
		if (m == g->leader || !protos_match(m->protos, req->protocols, req->protocols_cnt))
			return update_member_and_rebalance(t, g, m, req, now, cpl);
		answer_join_current(g, cpl, mid, gview(&g->leader->id), false);
		return 0;
	case SL_GROUP_EMPTY:
	case SL_GROUP_DEAD:
		break;
	}
	answer_join_err(cpl, mid, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
	return 0;
}

/* Kafka's acceptJoiningMember (group.max.size). */
static bool
accept_joining_member(const struct sl_group_tab *t, const struct group *g, struct sl_str mid,
                      struct sl_str instance_id)
{
	uint32_t max = (uint32_t)t->cfg.max_size;
	const struct gmember *m = find_member(g, mid);

	if (mid.len == 0 && find_static(g, instance_id))
		return true; /* replaces itself: the group does not grow */
	switch (g->state) {
	case SL_GROUP_EMPTY:
	case SL_GROUP_DEAD:
		return true;
	case SL_GROUP_PREPARING_REBALANCE:
		return (m && m->join_cpl) || g->n_awaiting_join < max;
	case SL_GROUP_COMPLETING_REBALANCE:
	case SL_GROUP_STABLE:
		return m || g->n < max;
	}
	return false;
}

static int
group_join(struct sl_group_tab *t, struct group *g, const struct sl_group_join_req *req,
           struct sl_str mid, int64_t now, struct sl_group_join_cpl *cpl)
{
	int rc;

	if (!accept_joining_member(t, g, mid, req->group_instance_id)) {
		struct gmember *m = find_member(g, mid);

		if (m)
			remove_member(g, m, SL_GROUP_KERR_GROUP_MAX_SIZE_REACHED);
		pending_remove(g, mid);
		answer_join_err(cpl, STR_EMPTY, SL_GROUP_KERR_GROUP_MAX_SIZE_REACHED);
		rc = 0;
	} else if (mid.len == 0) {
		rc = new_member_join(t, g, req, now, cpl);
	} else {
		rc = current_member_join(t, g, req, mid, now, cpl);
	}
	if (rc == 0)
		try_complete_join(g, now);
	return rc;
}

int
sl_group_join(struct sl_group_tab *t, const struct sl_group_join_req *req, int64_t now_ms,
              struct sl_group_join_cpl *cpl)
{
	struct sl_str mid;
	struct group *g;
	bool created = false;
	int rc;

	if (!t || !req || !cpl || !cpl->fn || !join_req_ok(req))
		return -EINVAL;
	mid = norm(req->member_id);
	if (req->group_id.len <= 0) {
		answer_join_err(cpl, mid, SL_GROUP_KERR_INVALID_GROUP_ID);
		return 0;
	}
	if (req->session_timeout_ms < t->cfg.min_session_timeout_ms ||
	    req->session_timeout_ms > t->cfg.max_session_timeout_ms) {
		answer_join_err(cpl, mid, SL_GROUP_KERR_INVALID_SESSION_TIMEOUT);
		return 0;
	}
	if (req->protocols_cnt > SL_GROUP_PROTOCOLS_MAX) {
		answer_join_err(cpl, mid, SL_GROUP_KERR_INVALID_REQUEST);
		return 0;
	}
	g = tab_find(t, req->group_id);
	if (!g) {
		/* only a first join creates a group */
		if (mid.len > 0) {
			answer_join_err(cpl, mid, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
			return 0;
		}
		rc = group_create(t, req->group_id, &g);
		if (rc)
			return rc;
		created = true;
	}
	rc = group_join(t, g, req, mid, now_ms, cpl);
	if (created && g->state == SL_GROUP_EMPTY && g->n == 0 && g->npend == 0)
		tab_remove(t, g);
	else
		SL_ASSERT(group_check(g));
	return rc;
}

/* ---- SyncGroup ---- */

/* Kafka's validateCurrentMember. */
static int16_t
validate_current_member(const struct group *g, struct sl_str mid, struct sl_str instance_id)
{
	if (instance_id.len >= 0) {
		const struct gmember *cur = find_static(g, instance_id);

		if (!cur)
			return SL_GROUP_KERR_UNKNOWN_MEMBER_ID;
		if (!str_eq(gview(&cur->id), mid))
			return SL_GROUP_KERR_FENCED_INSTANCE_ID;
	}
	return find_member(g, mid) ? SL_GROUP_KERR_NONE : SL_GROUP_KERR_UNKNOWN_MEMBER_ID;
}

static bool
sync_req_ok(const struct sl_group_sync_req *req)
{
	if (!str_ok(req->group_id) || !str_ok(req->member_id) || !str_ok(req->group_instance_id) ||
	    !str_ok(req->protocol_type) || !str_ok(req->protocol_name) ||
	    req->assignments_cnt < 0 || (req->assignments_cnt > 0 && !req->assignments))
		return false;
	for (int32_t i = 0; i < req->assignments_cnt; i++)
		if (!str_ok(req->assignments[i].member_id) ||
		    !blob_ok(req->assignments[i].assignment))
			return false;
	return true;
}

struct abuf {
	uint8_t *p;
	int32_t len;
};

/* Copies the leader's assignment for every member (the last entry per id wins; missing
 * members get an empty one). Returns NULL on ENOMEM; an array of g->n entries otherwise. */
static struct abuf *
assignment_copy(const struct group *g, const struct sl_group_sync_req *req)
{
	struct abuf *a = calloc(g->n ? g->n : 1, sizeof(*a));

	if (!a)
		return NULL;
	for (uint32_t i = 0; i < g->n; i++) {
		struct sl_str id = gview(&g->mv[i]->id);

		for (int32_t j = req->assignments_cnt - 1; j >= 0; j--) {
			const struct sl_group_assignment *e = &req->assignments[j];

			if (!str_eq(norm(e->member_id), id))
				continue;
			if (e->assignment.len) {
				a[i].p = malloc((size_t)e->assignment.len);
				if (!a[i].p)
					goto out_free;
				memcpy(a[i].p, e->assignment.p, (size_t)e->assignment.len);
				a[i].len = e->assignment.len;
			}
			break;
		}
	}
	return a;
out_free:
	for (uint32_t i = 0; i < g->n; i++)
		free(a[i].p);
	free(a);
	return NULL;
}

/* Kafka's setAndPropagateAssignment; takes ownership of a's buffers. */
static void
set_and_propagate(struct group *g, struct abuf *a, int64_t now)
{
	for (uint32_t i = 0; i < g->n; i++) {
		struct gmember *m = g->mv[i];
		struct sl_group_sync_cpl *sc = m->sync_cpl;

		free(m->assignment);
		m->assignment = a[i].p;
		m->assignment_len = a[i].len;
		if (sc) {
			m->sync_cpl = NULL;
			answer_sync_ok(g, sc, m);
			hb_rearm(m, now);
		}
	}
}

/* Parks cpl as m's SyncGroup (it no longer owes one); a SyncGroup it replaces is told to
 * rejoin. */
static void
set_sync_cpl(struct group *g, struct gmember *m, struct sl_group_sync_cpl *cpl)
{
	struct sl_group_sync_cpl *old = m->sync_cpl;

	m->sync_cpl = cpl;
	clear_pending_sync(g, m);
	if (old)
		answer_sync_err(old, SL_GROUP_KERR_REBALANCE_IN_PROGRESS);
}

static int
group_sync(struct group *g, const struct sl_group_sync_req *req, struct sl_str mid, int64_t now,
           struct sl_group_sync_cpl *cpl)
{
	int16_t err = validate_current_member(g, mid, req->group_instance_id);
	struct gmember *m;

	if (!err && req->generation_id != g->generation_id)
		err = SL_GROUP_KERR_ILLEGAL_GENERATION;
	if (!err && req->protocol_type.len >= 0 &&
	    !str_eq(req->protocol_type, gview(&g->protocol_type)))
		err = SL_GROUP_KERR_INCONSISTENT_GROUP_PROTOCOL;
	if (!err && req->protocol_name.len >= 0 && !str_eq(req->protocol_name, group_pname(g)))
		err = SL_GROUP_KERR_INCONSISTENT_GROUP_PROTOCOL;
	/* an Empty group has no members: validate_current_member answered already */
	if (!err && g->state == SL_GROUP_PREPARING_REBALANCE)
		err = SL_GROUP_KERR_REBALANCE_IN_PROGRESS;
	if (err) {
		answer_sync_err(cpl, err);
		return 0;
	}
	m = find_member(g, mid);
	if (g->state == SL_GROUP_STABLE) {
		clear_pending_sync(g, m);
		answer_sync_ok(g, cpl, m);
		hb_rearm(m, now);
		return 0;
	}
	SL_ASSERT(g->state == SL_GROUP_COMPLETING_REBALANCE);
	if (m == g->leader) {
		struct abuf *a = assignment_copy(g, req);

		if (!a)
			return -ENOMEM;
		set_sync_cpl(g, m, cpl);
		/* TODO(#groups-persist): store the group before it turns Stable */
		set_and_propagate(g, a, now);
		free(a);
		g->state = SL_GROUP_STABLE;
		SL_DEBUG("group %.*s: generation %d stable", g->id.len, g->id.p, g->generation_id);
		return 0;
	}
	set_sync_cpl(g, m, cpl); /* a follower waits for the leader's assignment */
	return 0;
}

int
sl_group_sync(struct sl_group_tab *t, const struct sl_group_sync_req *req, int64_t now_ms,
              struct sl_group_sync_cpl *cpl)
{
	struct group *g;
	int rc;

	if (!t || !req || !cpl || !cpl->fn || !sync_req_ok(req))
		return -EINVAL;
	if (req->group_id.len <= 0) {
		answer_sync_err(cpl, SL_GROUP_KERR_INVALID_GROUP_ID);
		return 0;
	}
	g = tab_find(t, req->group_id);
	if (!g) {
		answer_sync_err(cpl, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
		return 0;
	}
	rc = group_sync(g, req, norm(req->member_id), now_ms, cpl);
	SL_ASSERT(group_check(g));
	return rc;
}

/* ---- Heartbeat, LeaveGroup, OffsetCommit ---- */

static bool
ref_ok(const struct sl_group_member_ref *r)
{
	return str_ok(r->group_id) && str_ok(r->member_id) && str_ok(r->group_instance_id);
}

int
sl_group_heartbeat(struct sl_group_tab *t, const struct sl_group_member_ref *req, int64_t now_ms)
{
	struct sl_str mid;
	struct group *g;
	int16_t err;

	if (!t || !req || !ref_ok(req))
		return -EINVAL;
	if (req->group_id.len <= 0)
		return SL_GROUP_KERR_INVALID_GROUP_ID;
	g = tab_find(t, req->group_id);
	if (!g)
		return SL_GROUP_KERR_UNKNOWN_MEMBER_ID;
	mid = norm(req->member_id);
	err = validate_current_member(g, mid, req->group_instance_id);
	if (err)
		return err;
	if (req->generation_id != g->generation_id)
		return SL_GROUP_KERR_ILLEGAL_GENERATION;
	switch (g->state) {
	case SL_GROUP_EMPTY:
	case SL_GROUP_DEAD:
		return SL_GROUP_KERR_UNKNOWN_MEMBER_ID;
	case SL_GROUP_COMPLETING_REBALANCE:
	case SL_GROUP_STABLE:
		hb_rearm(find_member(g, mid), now_ms);
		return SL_GROUP_KERR_NONE;
	case SL_GROUP_PREPARING_REBALANCE:
		hb_rearm(find_member(g, mid), now_ms);
		return SL_GROUP_KERR_REBALANCE_IN_PROGRESS;
	}
	return SL_GROUP_KERR_UNKNOWN_MEMBER_ID;
}

static int16_t
leave_one(struct sl_group_tab *t, struct group *g, const struct sl_group_leave_member *lm,
          int64_t now)
{
	struct sl_str mid = norm(lm->member_id);
	struct gmember *m;
	int64_t pi;
	int16_t err;

	if (mid.len == 0) {
		/* administrative removal by group.instance.id (KIP-345) */
		m = find_static(g, lm->group_instance_id);
		if (!m)
			return SL_GROUP_KERR_UNKNOWN_MEMBER_ID;
		remove_member_and_update(t, g, m, now);
		return SL_GROUP_KERR_NONE;
	}
	pi = pending_find(g, mid);
	if (pi >= 0) {
		pending_remove_at(g, (uint32_t)pi);
		try_complete_join(g, now);
		return SL_GROUP_KERR_NONE;
	}
	err = validate_current_member(g, mid, lm->group_instance_id);
	if (err)
		return err;
	remove_member_and_update(t, g, find_member(g, mid), now);
	return SL_GROUP_KERR_NONE;
}

int
sl_group_leave(struct sl_group_tab *t, struct sl_str group_id,
               struct sl_group_leave_member *members, int32_t members_cnt, int64_t now_ms)
{
	struct group *g;

	if (!t || !str_ok(group_id) || members_cnt < 0 || (members_cnt > 0 && !members))
		return -EINVAL;
	for (int32_t i = 0; i < members_cnt; i++)
		if (!str_ok(members[i].member_id) || !str_ok(members[i].group_instance_id))
			return -EINVAL;
	if (group_id.len <= 0) {
		for (int32_t i = 0; i < members_cnt; i++)
			members[i].error_code = SL_GROUP_KERR_INVALID_GROUP_ID;
		return SL_GROUP_KERR_INVALID_GROUP_ID;
	}
	g = tab_find(t, group_id);
	for (int32_t i = 0; i < members_cnt; i++)
		members[i].error_code =
		        g ? leave_one(t, g, &members[i], now_ms) : SL_GROUP_KERR_UNKNOWN_MEMBER_ID;
	SL_ASSERT(!g || group_check(g));
	return SL_GROUP_KERR_NONE;
}

int
sl_group_commit_check(struct sl_group_tab *t, const struct sl_group_member_ref *req,
                      bool transactional, int64_t now_ms)
{
	struct sl_str mid;
	struct group *g;
	bool manual;
	int16_t err;

	if (!t || !req || !ref_ok(req))
		return -EINVAL;
	/* OffsetCommit accepts the empty group id (Kafka keeps it for old clients) */
	if (req->group_id.len < 0)
		return SL_GROUP_KERR_INVALID_GROUP_ID;
	mid = norm(req->member_id);
	manual = req->generation_id < 0 && mid.len == 0 && req->group_instance_id.len < 0;
	g = tab_find(t, req->group_id);
	if (!g) {
		if (req->generation_id >= 0)
			return SL_GROUP_KERR_ILLEGAL_GENERATION; /* a stale generation */
		if (!manual)
			return SL_GROUP_KERR_UNKNOWN_MEMBER_ID;
		/* the group does not use Kafka's group management: remember it (ListGroups) */
		if (group_create(t, req->group_id, &g))
			return -ENOMEM;
		return SL_GROUP_KERR_NONE;
	}
	if (!manual) {
		err = validate_current_member(g, mid, req->group_instance_id);
		if (err)
			return err;
		if (req->generation_id != g->generation_id)
			return SL_GROUP_KERR_ILLEGAL_GENERATION;
	} else if (!transactional && g->state != SL_GROUP_EMPTY) {
		return SL_GROUP_KERR_UNKNOWN_MEMBER_ID; /* only members commit to an active group */
	}
	if (transactional)
		return SL_GROUP_KERR_NONE;
	switch (g->state) {
	case SL_GROUP_EMPTY:
	case SL_GROUP_DEAD:
		return SL_GROUP_KERR_NONE;
	case SL_GROUP_STABLE:
	case SL_GROUP_PREPARING_REBALANCE:
		/* allowed while preparing: the heartbeat tells the member to rejoin */
		hb_rearm(find_member(g, mid), now_ms);
		return SL_GROUP_KERR_NONE;
	case SL_GROUP_COMPLETING_REBALANCE:
		return SL_GROUP_KERR_REBALANCE_IN_PROGRESS;
	}
	return SL_GROUP_KERR_NONE;
}

/* ---- DescribeGroups, ListGroups, DeleteGroups ---- */

void
sl_group_describe(struct sl_group_tab *t, struct sl_str group_id, struct sl_group_desc *out)
{
	struct group *g = t ? tab_find(t, group_id) : NULL;

	out->members = NULL;
	out->members_cnt = 0;
	out->protocol_name = STR_EMPTY;
	if (!g) {
		out->state = SL_GROUP_DEAD;
		out->state_name = sl_group_state_name(SL_GROUP_DEAD);
		out->protocol_type = STR_EMPTY;
		return;
	}
	out->state = g->state;
	out->state_name = sl_group_state_name(g->state);
	out->protocol_type = gview_or_empty(&g->protocol_type);
	if (g->state == SL_GROUP_STABLE) {
		out->protocol_name = group_pname(g);
		out->members = build_view(g, true, true);
	} else {
		out->members = build_view(g, false, false);
	}
	out->members_cnt = (int32_t)g->n;
	if (!g->n)
		out->members = NULL;
}

void
sl_group_list(const struct sl_group_tab *t, sl_group_list_fn fn, void *arg)
{
	for (uint32_t i = 0; t && i < t->nbuckets; i++) {
		for (const struct group *g = t->buckets[i]; g; g = g->hnext) {
			struct sl_group_list_entry e = {
			        .group_id = gview(&g->id),
			        .protocol_type = gview_or_empty(&g->protocol_type),
			        .state = g->state,
			        .state_name = sl_group_state_name(g->state),
			};

			fn(arg, &e);
		}
	}
}

int
sl_group_delete(struct sl_group_tab *t, struct sl_str group_id)
{
	struct group *g = t && str_ok(group_id) ? tab_find(t, group_id) : NULL;

	if (!g)
		return SL_GROUP_KERR_GROUP_ID_NOT_FOUND;
	if (g->state != SL_GROUP_EMPTY)
		return SL_GROUP_KERR_NON_EMPTY_GROUP;
	tab_remove(t, g);
	return SL_GROUP_KERR_NONE;
}

/* ---- time ---- */

enum ev_kind { EV_NONE, EV_PENDING, EV_SESSION, EV_JOIN, EV_SYNC };

/* The group's earliest timer: its kind, when, and which entry. Ties go in enum order. */
static enum ev_kind
next_event(const struct group *g, int64_t *when, uint32_t *idx)
{
	enum ev_kind k = EV_NONE;

	*when = NEVER;
	for (uint32_t i = 0; i < g->npend; i++) {
		if (g->pv[i].deadline_ms < *when) {
			*when = g->pv[i].deadline_ms;
			*idx = i;
			k = EV_PENDING;
		}
	}
	for (uint32_t i = 0; i < g->n; i++) {
		if (g->mv[i]->hb_deadline_ms < *when) {
			*when = g->mv[i]->hb_deadline_ms;
			*idx = i;
			k = EV_SESSION;
		}
	}
	if (g->join_deadline_ms < *when) {
		*when = g->join_deadline_ms;
		k = EV_JOIN;
	}
	if (g->sync_deadline_ms < *when) {
		*when = g->sync_deadline_ms;
		k = EV_SYNC;
	}
	return k;
}

/* The join timer: Kafka's DelayedJoin / InitialDelayedJoin onComplete. */
static void
join_expire(struct sl_group_tab *t, struct group *g, int64_t now)
{
	g->join_deadline_ms = NEVER;
	if (g->initial_delay && g->new_member_added && g->init_remaining_ms != 0) {
		/* members keep arriving: wait once more, within the rebalance timeout */
		int32_t delay = SL_MIN(t->cfg.initial_rebalance_delay_ms, g->init_remaining_ms);

		g->init_remaining_ms = SL_MAX(g->init_remaining_ms - g->init_delay_ms, 0);
		g->init_delay_ms = delay;
		g->new_member_added = false;
		g->join_deadline_ms = after(now, delay);
		return;
	}
	complete_join(g, now);
}

/* Kafka's onExpirePendingSync: members that never sent SyncGroup are removed. */
static void
sync_expire(struct sl_group_tab *t, struct group *g, int64_t now)
{
	g->sync_deadline_ms = NEVER;
	SL_ASSERT(g->n_pending_sync); /* invariant 5: armed only while someone owes a sync */
	for (uint32_t i = 0; i < g->n;) {
		struct gmember *m = g->mv[i];

		if (m->pending_sync)
			remove_member(g, m, SL_GROUP_KERR_UNKNOWN_MEMBER_ID);
		else
			i++;
	}
	prepare_rebalance(t, g, now);
}

static void
group_tick(struct sl_group_tab *t, struct group *g, int64_t now)
{
	int64_t when;
	uint32_t i = 0;

	for (;;) {
		enum ev_kind k = next_event(g, &when, &i);

		if (k == EV_NONE || when > now)
			return;
		switch (k) {
		case EV_PENDING: /* a MEMBER_ID_REQUIRED id never came back */
			pending_remove_at(g, i);
			try_complete_join(g, now);
			break;
		case EV_SESSION: {
			struct gmember *m = g->mv[i];

			/* a parked request counts as a heartbeat, except for a new member */
			if (!m->is_new && (m->join_cpl || m->sync_cpl))
				m->hb_deadline_ms = NEVER;
			else
				remove_member_and_update(t, g, m, now);
			break;
		}
		case EV_JOIN:
			join_expire(t, g, now);
			break;
		case EV_SYNC:
			sync_expire(t, g, now);
			break;
		case EV_NONE:
			return;
		}
		SL_ASSERT(group_check(g));
	}
}

void
sl_group_tick(struct sl_group_tab *t, int64_t now_ms)
{
	for (uint32_t b = 0; t && b < t->nbuckets; b++)
		for (struct group *g = t->buckets[b]; g; g = g->hnext)
			group_tick(t, g, now_ms);
}

int64_t
sl_group_next_deadline(const struct sl_group_tab *t)
{
	int64_t best = NEVER, when;
	uint32_t i;

	for (uint32_t b = 0; t && b < t->nbuckets; b++)
		for (const struct group *g = t->buckets[b]; g; g = g->hnext)
			if (next_event(g, &when, &i) != EV_NONE && when < best)
				best = when;
	return best;
}
