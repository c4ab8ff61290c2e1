// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0)
//
// The bag-of-system-calls detector, in the kernel. One program on the raw syscall-entry tracepoint
// serves every monitored container of the host: a container is a cgroup (v2) id, registered by
// user space with its parameters and its known bags. Each thread keeps its window of the last W
// calls and the running id of their bag in task storage; the id is the one the user-space detector
// computes (a sum of splitmix64 terms per (symbol, count)), so a profile's bags load as they are.
//
// Nothing leaves the kernel for a call whose bag is known. User space hears, through the
// container's ring buffer, of a bag the kernel did not know (learning: the bag is then known; or
// detection: the first few unknown windows of an epoch) and of every epoch that had any.

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bosc.h"

// The kernel fields the program reads: whether the syscall under way came through the 32-bit
// entry (x86's TS_COMPAT), and how deep the task's pid namespace is. CO-RE finds their offsets in
// the running kernel's BTF at load.
struct thread_info {
	__u32 status;
} __attribute__((preserve_access_index));

struct pid {
	unsigned int level;
} __attribute__((preserve_access_index));

struct task_struct {
	struct thread_info thread_info;
	struct pid *thread_pid;
} __attribute__((preserve_access_index));

struct pt_regs;
struct linux_binprm;

#define TS_COMPAT 0x0002
#define X32_SYSCALL_BIT 0x40000000u
#define SIGKILL 9

// An epoch that the current call ended.
struct end {
	__u64 index;
	__u32 ended;
	__u32 windows;
	__u32 mismatches;
	__u32 anomalous;
};

char LICENSE[] SEC("license") = "Dual BSD/GPL";

// Syscall number → symbol, one table of NR_TABLE entries per architecture (x86_64, x86, x32), as
// user space's alphabet numbers them. NO_SYM: a number the alphabet does not know. The five entries
// after the tables hold ABI_VERSION and a hash of the tables, for user space to tell a program
// pinned by another build.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3 * NR_TABLE + 5);
	__type(key, __u32);
	__type(value, __u16);
} syms SEC(".maps");

// cgroup id → the container's parameters, epoch in progress and counters.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_CONTAINERS);
	__type(key, __u64);
	__type(value, struct container);
} containers SEC(".maps");

// cgroup id → the container's known bags (bag id → windows learnt with it).
struct bag_set {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u64);
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, MAX_CONTAINERS);
	__type(key, __u64);
	__array(values, struct bag_set);
} bags SEC(".maps");

// cgroup id → the container's limits: for an epoch of w windows, the most unknown ones it may
// have and not be anomalous (entry w), as the user-space detector's threshold computes them, so the
// two sides judge every epoch alike.
struct limit_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_INNER_MAP);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, MAX_CONTAINERS);
	__type(key, __u64);
	__array(values, struct limit_table);
} limits SEC(".maps");

// cgroup id → the container's ring buffer to user space.
struct ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RING_BYTES);
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, MAX_CONTAINERS);
	__type(key, __u64);
	__array(values, struct ring);
} rings SEC(".maps");

// Per thread: its window, its bag, whether it is still runc's.
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct thread);
} threads SEC(".maps");

// The term a symbol seen `count` times adds to a bag's id: splitmix64 of (sym << 8 | count), 0 for
// an absent symbol. The same function as the user-space detector's.
static __always_inline __u64 term(__u32 sym, __u32 count)
{
	if (count == 0)
		return 0;
	__u64 z = ((__u64)sym << 8 | count) * 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static __always_inline int symbol(struct task_struct *task, long id)
{
	__u32 nr = (__u32)id;
	__u32 table = 0;

	if (task->thread_info.status & TS_COMPAT) {
		table = 1;
	} else if (nr & X32_SYSCALL_BIT) {
		table = 2;
		nr &= ~X32_SYSCALL_BIT;
	}
	if (nr >= NR_TABLE)
		return -1;
	__u32 key = table * NR_TABLE + nr;
	__u16 *sym = bpf_map_lookup_elem(&syms, &key);
	if (!sym || *sym == NO_SYM)
		return -1;
	return *sym;
}

static __always_inline int is_set(const __u64 *bits, __u32 sym)
{
	return (bits[(sym / 64) & (SYM_WORDS - 1)] >> (sym % 64)) & 1;
}

// The calls of a window, oldest first, taken when a record may need them.
struct calls {
	__u32 len;
	__u16 calls[MAX_WINDOW];
};

// Empties the window. Every slot's count is cleared, whether the slot holds a call now or a stale
// one (whose count is 0 already): no branch, so the verifier walks the loop once.
static __always_inline void clear(struct window *w)
{
	for (__u32 i = 0; i < MAX_WINDOW; i++)
		w->counts[w->ring[i] & (MAX_SYMS - 1)] = 0;
	w->len = 0;
	w->next = 0;
	w->id = 0;
}

// Pushes a call into a window; returns whether the window is full.
static __always_inline int push(struct window *w, __u32 sym, __u32 window)
{
	__u32 next = w->next & (MAX_WINDOW - 1);

	if (w->len >= window) {
		__u32 old = w->ring[next] & (MAX_SYMS - 1);
		__u32 c = w->counts[old];
		w->id = w->id - term(old, c) + term(old, c - 1);
		w->counts[old] = c - 1;
	} else {
		w->len++;
	}
	w->ring[next] = sym;
	next++;
	w->next = next >= window ? 0 : next;
	sym &= MAX_SYMS - 1;
	__u32 c = w->counts[sym];
	w->id = w->id - term(sym, c) + term(sym, c + 1);
	w->counts[sym] = c + 1;
	return w->len >= window;
}

// Takes the calls of a full window, oldest first (slots past W are left as they were).
static __always_inline void snapshot(struct calls *dst, const struct window *w, __u32 window)
{
	__u32 start = w->next;

	dst->len = window;
	for (__u32 i = 0; i < MAX_WINDOW; i++)
		dst->calls[i] = w->ring[((start + i) % window) & (MAX_WINDOW - 1)];
}

// A zeroed record of `kind` from the calling thread, reserved in the container's ring buffer; none
// when the buffer has no room (counted as lost).
static __always_inline struct record *reserve(void *ring, struct container *c, __u32 kind)
{
	struct record *r = bpf_ringbuf_reserve(ring, sizeof(*r), 0);

	if (!r) {
		__sync_fetch_and_add(&c->lost, 1);
		return 0;
	}
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__builtin_memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->tid = (__u32)pid_tgid;
	r->pid = pid_tgid >> 32;
	return r;
}

// Sends a window to user space; false when the ring buffer had no room (counted).
static __always_inline int send_window(void *ring, struct container *c, __u32 kind, __u64 bag,
				       const struct calls *calls, __u64 epoch)
{
	struct record *r = reserve(ring, c, kind);

	if (!r)
		return 0;
	r->bag = bag;
	r->epoch = epoch;
	r->len = calls->len;
	__builtin_memcpy(r->calls, calls->calls, sizeof(r->calls));
	bpf_ringbuf_submit(r, 0);
	return 1;
}

// Sends the end of an epoch that had unknown windows.
static __always_inline void send_epoch(void *ring, struct container *c, const struct end *end)
{
	struct record *r = reserve(ring, c, RECORD_EPOCH);

	if (!r)
		return;
	r->epoch = end->index;
	r->windows = end->windows;
	r->mismatches = end->mismatches;
	r->anomalous = end->anomalous;
	bpf_ringbuf_submit(r, 0);
}

// Whether an epoch that just ended is anomalous.
static __always_inline int exceeds(__u64 cgroup, const struct end *end)
{
	void *table = bpf_map_lookup_elem(&limits, &cgroup);
	__u32 windows = end->windows;
	__u32 *limit = table ? bpf_map_lookup_elem(table, &windows) : 0;

	return limit && end->mismatches > *limit;
}

// Continuous training: an epoch with at most its limit of unknown windows is normal, and user
// space merges all of them, so that many are sent (the limit of a full epoch is the largest).
static __always_inline int mergeable(__u64 cgroup, const struct container *c, __u32 nth)
{
	void *table = bpf_map_lookup_elem(&limits, &cgroup);
	__u32 full = c->epoch;
	__u32 *limit = table ? bpf_map_lookup_elem(table, &full) : 0;

	return limit && nth <= *limit;
}

// A call of a syscall the profile never saw: with kill, its process dies before the call returns
// (the call itself runs: refusing it takes seccomp); user space hears of each syscall once.
static __always_inline void unseen(struct container *c, __u64 cgroup, __u32 sym)
{
	__u64 bit = 1ull << (sym % 64);
	__u64 before = __sync_fetch_and_or(&c->reported[(sym / 64) & (SYM_WORDS - 1)], bit);

	__sync_fetch_and_add(&c->unseen, 1);
	if (c->flags & FLAG_UNSEEN_KILL) {
		c->doomed = 1;
		bpf_send_signal(SIGKILL);
	}
	if ((before & bit) && !(c->flags & FLAG_UNSEEN_KILL))
		return;
	void *ring = bpf_map_lookup_elem(&rings, &cgroup);
	if (!ring)
		return;
	struct record *r = reserve(ring, c, RECORD_UNSEEN);
	if (!r)
		return;
	r->len = 1;
	r->calls[0] = sym;
	bpf_ringbuf_submit(r, 0);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	__u64 cgroup = bpf_get_current_cgroup_id();
	struct container *c = bpf_map_lookup_elem(&containers, &cgroup);

	if (!c)
		return 0;
	// The container was killed: the rest of it dies at its next call, before user space has
	// even heard (a shell must not go on after the child the kernel killed).
	if (c->doomed) {
		bpf_send_signal(SIGKILL);
		return 0;
	}
	struct task_struct *task = bpf_get_current_task_btf();
	struct thread *t = bpf_task_storage_get(&threads, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!t) {
		__sync_fetch_and_add(&c->untracked, 1);
		return 0;
	}
	int s = symbol(task, id);
	if (s < 0) {
		__sync_fetch_and_add(&c->unmapped, 1);
		return 0;
	}
	__u32 sym = s;
	if (is_set(c->invisible, sym))
		return 0;
	// runc's init and the process of a `runc exec` enter the cgroup as threads the program has
	// not seen: they are runc's until they exec the container's program, which is the
	// container's first call. runc's init also re-execs itself (a sealed copy of runc) before it
	// has made the container's pid namespace: only an exec that deep counts.
	if (!t->started) {
		if ((sym != c->execve && sym != c->execveat) ||
		    task->thread_pid->level < c->start_level) {
			__sync_fetch_and_add(&c->runc_calls, 1);
			return 0;
		}
		t->started = 1;
	}
	if ((c->flags & (FLAG_UNSEEN | FLAG_LEARN)) == FLAG_UNSEEN && !is_set(c->known, sym))
		unseen(c, cgroup, sym);

	__u32 window = c->window;
	if (window > MAX_WINDOW || window == 0)
		return 0;
	struct calls calls;
	__u64 bag;
	int full;
	if (c->flags & FLAG_SHARED) {
		// One window for every thread: pushed, and taken for a record, under the lock, in the
		// order the calls take it.
		bpf_spin_lock(&c->lock);
		full = push(&c->shared, sym, window);
		bag = c->shared.id;
		if (full)
			snapshot(&calls, &c->shared, window);
		bpf_spin_unlock(&c->lock);
	} else {
		if (t->cgroup != cgroup) {
			// A new thread, or one moved into another container: a fresh window.
			clear(&t->window);
			t->cgroup = cgroup;
		}
		full = push(&t->window, sym, window);
		bag = t->window.id;
	}

	int unknown = 0, fresh = 0;
	void *set = full ? bpf_map_lookup_elem(&bags, &cgroup) : 0;
	if (set) {
		__u64 *frequency = bpf_map_lookup_elem(set, &bag);
		if (frequency) {
			if (c->flags & FLAG_LEARN)
				__sync_fetch_and_add(frequency, 1);
		} else if (c->flags & FLAG_LEARN) {
			__u64 one = 1;
			long err = bpf_map_update_elem(set, &bag, &one, BPF_NOEXIST);
			if (err == 0) {
				fresh = 1;
				unknown = 1;
			} else if (err != -17 /* EEXIST: another thread added it first */) {
				// The set is full: the bag is new but cannot be kept.
				__sync_fetch_and_add(&c->rejected, 1);
				unknown = 1;
			}
		} else {
			unknown = 1;
		}
	}

	struct end end = {};
	__u32 nth = 0;
	bpf_spin_lock(&c->lock);
	c->calls++;
	if (full) {
		c->windows++;
		c->epoch_windows++;
		if (unknown) {
			c->mismatches++;
			c->epoch_mismatches++;
			nth = c->epoch_mismatches;
		}
	}
	end.index = c->epoch_index;
	c->epoch_calls++;
	if (c->epoch_calls >= c->epoch) {
		end.ended = 1;
		end.windows = c->epoch_windows;
		end.mismatches = c->epoch_mismatches;
		c->epochs++;
		c->epoch_index++;
		c->epoch_calls = 0;
		c->epoch_windows = 0;
		c->epoch_mismatches = 0;
	}
	bpf_spin_unlock(&c->lock);

	if (end.ended && !(c->flags & FLAG_LEARN) && exceeds(cgroup, &end)) {
		end.anomalous = 1;
		__sync_fetch_and_add(&c->anomalies, 1);
		if (c->flags & FLAG_KILL) {
			c->doomed = 1;
			bpf_send_signal(SIGKILL);
		}
	}

	if (!unknown && !end.ended)
		return 0;
	void *ring = bpf_map_lookup_elem(&rings, &cgroup);
	if (!ring)
		return 0;
	int send = fresh || (nth && !(c->flags & FLAG_LEARN) &&
			     (nth <= MAX_REPORTED ||
			      ((c->flags & FLAG_CONTINUOUS) && mergeable(cgroup, c, nth))));
	if (send && !(c->flags & FLAG_SHARED))
		snapshot(&calls, &t->window, window);
	if (fresh) {
		if (!send_window(ring, c, RECORD_NEW_BAG, bag, &calls, end.index)) {
			// User space never heard of the bag: forget it, so its next window is sent again.
			void *again = bpf_map_lookup_elem(&bags, &cgroup);
			if (again)
				bpf_map_delete_elem(again, &bag);
		}
	} else if (send) {
		send_window(ring, c, RECORD_UNKNOWN, bag, &calls, end.index);
	}
	if (end.ended && end.mismatches)
		send_epoch(ring, c, &end);
	return 0;
}

// A new thread or process carries on its parent's start-up state: a child of the container's
// program is judged from its first call, a child of runc's init is runc's until it execs.
SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	struct thread *p = bpf_task_storage_get(&threads, parent, 0, 0);

	if (!p || !p->started)
		return 0;
	struct thread *t = bpf_task_storage_get(&threads, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (t) {
		t->started = 1;
		t->cgroup = 0;
	}
	return 0;
}
