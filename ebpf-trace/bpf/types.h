/* Minimal hand-written kernel types for trace.bpf.c.
 * Tracepoint contexts follow the layouts in /sys/kernel/tracing/events/<group>/<name>/format
 * (plain structs, no CO-RE relocations). */
#ifndef YOUKI_TRACE_TYPES_H
#define YOUKI_TRACE_TYPES_H

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_ANY = 0,
};

/* flags of bpf_ringbuf_submit and bpf_ringbuf_query */
enum {
	BPF_RB_NO_WAKEUP = 1,
	BPF_RB_FORCE_WAKEUP = 2,
	BPF_RB_AVAIL_DATA = 0,
};

/* Common header of every tracepoint record. */
struct tp_common {
	__u16 type;
	__u8 flags;
	__u8 preempt_count;
	__s32 pid;
};

struct tp_sys_enter {
	struct tp_common common;
	__s64 id;
	__u64 args[6];
};

struct tp_sys_exit {
	struct tp_common common;
	__s64 id;
	__s64 ret;
};

struct tp_process_fork {
	struct tp_common common;
	__u32 parent_comm_loc;
	__s32 parent_pid;
	__u32 child_comm_loc;
	__s32 child_pid;
};

struct tp_process_exec {
	struct tp_common common;
	__u32 filename_loc;
	__s32 pid;
	__s32 old_pid;
};

struct tp_process_exit {
	struct tp_common common;
	char comm[16];
	__s32 pid;
	__s32 prio;
	__u8 group_dead;
};

struct tp_task_rename {
	struct tp_common common;
	__s32 pid;
	char oldcomm[16];
	char newcomm[16];
	__s16 oom_score_adj;
};

struct tp_signal_generate {
	struct tp_common common;
	__s32 sig;
	__s32 errno_;
	__s32 code;
	char comm[16];
	__s32 pid;
	__s32 group;
	__s32 result;
};

/* Kernel structs read with CO-RE: only the fields used, relocated against the running
 * kernel's BTF at load time, so their order and offsets here do not matter. */
#define __core __attribute__((preserve_access_index))

struct ns_common {
	unsigned int inum;
} __core;

struct pid_namespace { struct ns_common ns; } __core;
struct mnt_namespace { struct ns_common ns; } __core;
struct net { struct ns_common ns; } __core;
struct uts_namespace { struct ns_common ns; } __core;
struct ipc_namespace { struct ns_common ns; } __core;
struct cgroup_namespace { struct ns_common ns; } __core;
struct user_namespace { struct ns_common ns; } __core;

struct cred {
	struct user_namespace *user_ns;
} __core;

struct nsproxy {
	struct uts_namespace *uts_ns;
	struct ipc_namespace *ipc_ns;
	struct mnt_namespace *mnt_ns;
	struct net *net_ns;
	struct cgroup_namespace *cgroup_ns;
} __core;

struct upid {
	int nr;
	struct pid_namespace *ns;
} __core;

struct pid {
	unsigned int level;
	struct upid numbers[1];
} __core;

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
} __core;

/* The context of a raw tracepoint program: the tracepoint's arguments as they are. */
struct bpf_raw_tracepoint_args {
	__u64 args[0];
};

/* x86_64: the user registers saved at syscall entry (a syscall's arguments). */
struct pt_regs {
	unsigned long orig_ax;
	unsigned long r10;
	unsigned long r9;
	unsigned long r8;
	unsigned long dx;
	unsigned long si;
	unsigned long di;
} __core;

struct task_struct {
	int exit_code;
	struct pid *thread_pid;
	struct nsproxy *nsproxy;
	struct mm_struct *mm;
	const struct cred *cred;
} __core;

#endif
