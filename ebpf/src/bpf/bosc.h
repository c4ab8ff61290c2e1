// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0)
//
// What the kernel program and user space share: limits, the container's map value and the ring
// records. src/abi.rs mirrors these layouts (its tests check the sizes).

#ifndef IDS_BOSC_H
#define IDS_BOSC_H

#define MAX_WINDOW 64		// the detector's largest window
#define MAX_SYMS 1024		// symbols: the alphabet's names, for every architecture
#define SYM_WORDS (MAX_SYMS / 64)
#define NR_TABLE 1024		// syscall numbers per architecture
#define NO_SYM 0xffff
#define MAX_CONTAINERS 4096
#define RING_BYTES (256 * 1024)
#define MAX_REPORTED 4		// unknown windows sent per epoch (the detector's MAX_REPORTED_WINDOWS)
// Raised with every change of what the program does or shares: the program stays loaded between
// containers, and a build must not use another build's.
#define ABI_VERSION 2

#define FLAG_LEARN 1		// add unknown bags instead of counting them
#define FLAG_KILL 2		// SIGKILL the caller that ends an anomalous epoch
#define FLAG_UNSEEN 4		// report a syscall the profile never saw (once per syscall)
#define FLAG_UNSEEN_KILL 8	// and SIGKILL its caller
#define FLAG_SHARED 16		// one window for the whole container, not one per thread
#define FLAG_CONTINUOUS 32	// detection: send every unknown window an epoch may have and be normal

#define RECORD_NEW_BAG 1	// learning: a bag the kernel did not know (now known)
#define RECORD_UNKNOWN 2	// detection: one of the first unknown windows of an epoch
#define RECORD_EPOCH 3		// an epoch that had unknown (or, learning, new) windows ended
#define RECORD_UNSEEN 4		// detection: a syscall the profile never saw (calls[0])

// A window of the last W calls and the id of their bag.
struct window {
	__u64 id;
	__u32 len;
	__u32 next;
	__u16 ring[MAX_WINDOW];
	__u8 counts[MAX_SYMS];
};

struct container {
	// Set by user space at registration, read-only for the program.
	__u32 window;
	__u32 epoch;
	__u32 flags;
	__u16 execve;
	__u16 execveat;
	__u64 start_level;		// an exec starts a thread only this deep in pid namespaces
	__u64 invisible[SYM_WORDS];
	__u64 known[SYM_WORDS];		// syscalls seen in training

	// The epoch in progress and the totals, under the lock.
	struct bpf_spin_lock lock;
	__u32 epoch_calls;
	__u32 epoch_windows;
	__u32 epoch_mismatches;
	__u64 epoch_index;
	__u64 calls;
	__u64 windows;
	__u64 mismatches;
	__u64 epochs;

	// Atomic counters.
	__u64 anomalies;	// epochs judged anomalous
	__u64 lost;		// records the ring buffer had no room for
	__u64 rejected;		// new bags the container's set had no room for
	__u64 runc_calls;	// calls of threads still starting
	__u64 unmapped;		// syscall numbers the alphabet does not know
	__u64 untracked;	// calls of threads whose storage could not be made
	__u64 unseen;		// calls of syscalls the profile never saw
	__u64 doomed;		// killed: every process of the container dies at its next call
	__u64 reported[SYM_WORDS];	// unseen syscalls already reported

	// With FLAG_SHARED, the container's one window, under the lock.
	struct window shared;
};

struct thread {
	__u64 cgroup;		// the container the window belongs to
	__u64 started;		// 0 while the thread is runc's
	struct window window;
};

struct record {
	__u32 kind;
	__u32 pid;
	__u32 tid;
	__u32 len;
	__u64 bag;
	__u64 epoch;
	__u32 windows;
	__u32 mismatches;
	__u32 anomalous;
	__u32 pad;
	__u16 calls[MAX_WINDOW];
};

#endif
