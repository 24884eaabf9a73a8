// SPDX-License-Identifier: GPL-2.0
/* youki-trace kernel side: follows one process tree from a root tgid and sends one
 * record per finished syscall, fork, exec, exit, comm rename and signal into a ring buffer.
 * The layout of struct event is mirrored by src/event.rs; keep both in step. */
#include "types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define STR_LEN 128
#define SHORT_LEN 48
#define ARGV_SLOT 32
#define ARGV_SLOTS 4

enum kind {
	EV_SYSCALL = 1,
	EV_FORK = 2,
	EV_EXEC = 3,
	EV_EXIT = 4,
	EV_RENAME = 5,
	EV_SIGNAL = 6,
	EV_NORETURN = 7,
};

struct event {
	__u64 ts_ns;
	__u64 dur_ns;
	__s64 nr;
	__s64 ret;
	__u64 args[6];
	__u32 kind;
	__u32 pid;
	__u32 tid;
	__s32 aux0;
	__s32 aux1;
	__s32 aux2;
	char comm[16];
	char s0[STR_LEN];
	char s1[STR_LEN];
	char s2[SHORT_LEN];
};

/* Two records carry more than struct event, in `big` after it: an exec, the head of the new
 * image's argument block, where the runtime's subcommand and flags are (args[0] = bytes
 * copied; the tail in s1 keeps the container id when the block is longer); a write to fd 2,
 * its first BIG_LEN bytes instead of s0 (aux0 = bytes copied), so that a runtime's whole
 * error line is kept. */
#define BIG_LEN 1024

struct big_event {
	struct event ev;
	char big[BIG_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u8);
} traced SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct event);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} scratch SEC(".maps");

/* --comm: follow every process that execs with this name (enabled when name[0] != 0) */
struct follow_comm {
	char name[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct follow_comm);
} follow SEC(".maps");

/* index 0: events lost because the ring buffer was full; 1: enters lost (pending full);
 * 2: processes not followed because the traced map was full */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

/* Wake the reader only when a good share of the buffer is waiting: it polls on a short
 * timeout anyway, and a wakeup per event would put the tracer on the CPU next to the
 * runtime it is measuring. */
#define WAKEUP_BYTES (2 * 1024 * 1024)

static __always_inline void submit(void *ev)
{
	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > WAKEUP_BYTES
		? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(ev, flags);
}

static __always_inline void count_drop(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &slot);
	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline int is_traced(__u32 tgid)
{
	return bpf_map_lookup_elem(&traced, &tgid) != 0;
}

/* The fields every record starts with: now, the current task, nothing else yet. */
static __always_inline void init_event(struct event *ev, __u32 kind)
{
	__u64 id = bpf_get_current_pid_tgid();
	ev->ts_ns = bpf_ktime_get_ns();
	ev->dur_ns = 0;
	ev->nr = -1;
	ev->ret = 0;
	ev->kind = kind;
	ev->pid = id >> 32;
	ev->tid = (__u32)id;
	ev->aux0 = 0;
	ev->aux1 = 0;
	ev->aux2 = 0;
	ev->s0[0] = 0;
	ev->s1[0] = 0;
	ev->s2[0] = 0;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
}

static __always_inline struct event *reserve(__u32 kind)
{
	struct event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count_drop(0);
		return 0;
	}
	init_event(ev, kind);
	return ev;
}

/* The first BIG_LEN bytes a write to fd 2 wrote (`len`, its return value), after the record. */
static __always_inline void big_payload(struct big_event *x, __u64 buf, __u64 len)
{
	__u32 n = len > BIG_LEN ? BIG_LEN : (__u32)len;
	if (n > 0 && n <= BIG_LEN && bpf_probe_read_user(x->big, n, (const void *)buf) == 0)
		x->ev.aux0 = n;
}

static __always_inline void user_str(char *dst, __u64 ptr)
{
	if (ptr)
		bpf_probe_read_user_str(dst, STR_LEN, (const void *)ptr);
}

/* Copy a bounded prefix of a user buffer (pipe or socket payload) into s0. */
static __always_inline void user_bytes(struct event *ev, __u64 ptr, __s64 len)
{
	if (len <= 0 || !ptr)
		return;
	if (len > STR_LEN)
		len = STR_LEN;
	__u32 n = (__u32)len;
	if (n > STR_LEN)
		return;
	if (bpf_probe_read_user(ev->s0, n, (const void *)ptr) == 0)
		ev->aux0 = n;
}

/* The first buffer of an iovec array (writev, sendmsg): enough for a message or log line. */
static __always_inline void first_iov(struct event *ev, __u64 iov)
{
	__u64 v[2] = {}; /* struct iovec { void *base; size_t len; } */
	if (!iov || bpf_probe_read_user(v, sizeof(v), (const void *)iov))
		return;
	user_bytes(ev, v[0], (__s64)v[1]);
}

static __always_inline void capture_argv(struct event *ev, __u64 argv)
{
	int i;
	if (!argv)
		return;
#pragma unroll
	for (i = 0; i < ARGV_SLOTS + 1; i++) {
		__u64 p = 0;
		if (bpf_probe_read_user(&p, sizeof(p), (const void *)(argv + i * 8)) || !p)
			return;
		if (i == ARGV_SLOTS) {
			ev->aux2 = 1; /* argv was truncated */
			return;
		}
		bpf_probe_read_user_str(&ev->s1[i * ARGV_SLOT], ARGV_SLOT, (const void *)p);
		ev->aux1 = i + 1;
	}
}

/* Strings and structs that only make sense at syscall entry (x86_64 numbers). */
static __always_inline void capture_enter(struct event *ev)
{
	__u64 *a = ev->args;
	switch (ev->nr) {
	case 1:   /* write */
	case 44:  /* sendto */
		user_bytes(ev, a[1], (__s64)a[2]);
		break;
	case 20:  /* writev */
		first_iov(ev, a[1]);
		break;
	case 46: { /* sendmsg: struct msghdr has msg_iov at offset 16 */
		__u64 iov = 0;
		if (a[1] && !bpf_probe_read_user(&iov, sizeof(iov), (const void *)(a[1] + 16)))
			first_iov(ev, iov);
		break;
	}
	case 2: case 4: case 6: case 21: case 80: case 83: case 84: case 87: case 89:
	case 161: /* chroot */
	case 166: /* umount2 */
	case 430: /* fsopen */
		user_str(ev->s0, a[0]);
		break;
	case 59: /* execve */
		user_str(ev->s0, a[0]);
		capture_argv(ev, a[1]);
		break;
	case 322: /* execveat */
		user_str(ev->s0, a[1]);
		capture_argv(ev, a[2]);
		break;
	case 88:  /* symlink */
	case 155: /* pivot_root */
		user_str(ev->s0, a[0]);
		user_str(ev->s1, a[1]);
		break;
	case 165: /* mount */
		user_str(ev->s0, a[0]);
		user_str(ev->s1, a[1]);
		if (a[2])
			bpf_probe_read_user_str(ev->s2, SHORT_LEN, (const void *)a[2]);
		break;
	case 170: /* sethostname */
	case 171: /* setdomainname */
		user_bytes(ev, a[0], (__s64)a[1]);
		break;
	case 157: /* prctl(PR_SET_NAME) */
		if (a[0] == 15)
			user_str(ev->s0, a[1]);
		break;
	case 257: case 258: case 259: case 260: case 262: case 263: case 267: case 268:
	case 269: case 332: case 428: case 433: case 437: case 439: case 442:
		user_str(ev->s0, a[1]);
		break;
	case 266: /* symlinkat */
		user_str(ev->s0, a[0]);
		user_str(ev->s1, a[2]);
		break;
	case 429: /* move_mount */
		user_str(ev->s0, a[1]);
		user_str(ev->s1, a[3]);
		break;
	case 431: /* fsconfig */
		if (a[2])
			bpf_probe_read_user_str(ev->s2, SHORT_LEN, (const void *)a[2]);
		if (a[1] == 1 || a[1] == 3 || a[1] == 4)
			user_str(ev->s0, a[3]);
		break;
	case 435: /* clone3: flags, pidfd, child_tid, parent_tid, exit_signal */
		if (a[0])
			bpf_probe_read_user(ev->s2, 40, (const void *)a[0]);
		break;
	case 126: /* capset: two __user_cap_data_struct */
		if (a[1])
			bpf_probe_read_user(ev->s2, 24, (const void *)a[1]);
		break;
	}
}

/* Process facts for fork/exec/exit/rename records, in s2 as __u32s: namespace pid, then the
 * inodes of the pid, mnt, net, uts, ipc and cgroup namespaces, the exit code, then the inode
 * of the user namespace. */
struct ns_info {
	__u32 ns_pid;
	__u32 pid_ns;
	__u32 mnt_ns;
	__u32 net_ns;
	__u32 uts_ns;
	__u32 ipc_ns;
	__u32 cgroup_ns;
	__u32 exit_code;
	__u32 user_ns;
};

static __always_inline void fill_ns(struct event *ev)
{
	struct ns_info *n = (struct ns_info *)ev->s2;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct pid *p = BPF_CORE_READ(t, thread_pid);
	unsigned int level = BPF_CORE_READ(p, level);
	struct upid up = {};
	/* numbers[] is a flexible array: index it by hand from its relocated offset */
	bpf_probe_read_kernel(&up, sizeof(up), (void *)p + bpf_core_field_offset(p->numbers)
			      + (__u64)(level & 31) * sizeof(struct upid));
	n->ns_pid = up.nr;
	n->pid_ns = BPF_CORE_READ(up.ns, ns.inum);
	struct nsproxy *ns = BPF_CORE_READ(t, nsproxy);
	if (ns) {
		n->mnt_ns = BPF_CORE_READ(ns, mnt_ns, ns.inum);
		n->net_ns = BPF_CORE_READ(ns, net_ns, ns.inum);
		n->uts_ns = BPF_CORE_READ(ns, uts_ns, ns.inum);
		n->ipc_ns = BPF_CORE_READ(ns, ipc_ns, ns.inum);
		n->cgroup_ns = BPF_CORE_READ(ns, cgroup_ns, ns.inum);
	} else {
		n->mnt_ns = n->net_ns = n->uts_ns = n->ipc_ns = n->cgroup_ns = 0;
	}
	n->exit_code = BPF_CORE_READ(t, exit_code);
	n->user_ns = BPF_CORE_READ(t, cred, user_ns, ns.inum);
}

SEC("tracepoint/raw_syscalls/sys_enter")
int trace_sys_enter(struct tp_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	if (!is_traced(tgid))
		return 0;

	__s64 nr = ctx->id;
	if (nr == 60 || nr == 231) { /* exit, exit_group: no sys_exit follows */
		struct event *ev = reserve(EV_NORETURN);
		if (!ev)
			return 0;
		ev->nr = nr;
		ev->args[0] = ctx->args[0];
		submit(ev);
		return 0;
	}

	__u32 zero = 0;
	struct event *ev = bpf_map_lookup_elem(&scratch, &zero);
	if (!ev)
		return 0;
	ev->ts_ns = bpf_ktime_get_ns();
	ev->kind = EV_SYSCALL;
	ev->nr = nr;
	ev->pid = tgid;
	ev->tid = tid;
	ev->aux0 = 0;
	ev->aux1 = 0;
	ev->aux2 = 0;
	ev->s0[0] = 0;
	ev->s1[0] = 0;
	ev->s2[0] = 0;
#pragma unroll
	for (int i = 0; i < 6; i++)
		ev->args[i] = ctx->args[i];
	capture_enter(ev);
	if (bpf_map_update_elem(&pending, &tid, ev, BPF_ANY))
		count_drop(1);
	return 0;
}

/* Fills a syscall record from its kept enter and the exit. */
static __always_inline void finish_call(struct event *ev, struct event *p,
					struct tp_sys_exit *ctx, __u32 tgid)
{
	__builtin_memcpy(ev, p, sizeof(*ev));
	ev->dur_ns = bpf_ktime_get_ns() - ev->ts_ns;
	ev->ret = ctx->ret;
	ev->pid = tgid; /* a successful exec from a thread changes the tid */
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
}

SEC("tracepoint/raw_syscalls/sys_exit")
int trace_sys_exit(struct tp_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	if (!is_traced(tgid))
		return 0;
	struct event *p = bpf_map_lookup_elem(&pending, &tid);
	if (!p) {
		/* No enter: seccomp refused the call before the sys_enter tracepoint (an
		 * SCMP_ACT_ERRNO rule), or the enter was lost. A failure is still worth a record,
		 * marked aux2 = -1, without arguments. */
		if (ctx->ret >= 0 || ctx->ret < -4095)
			return 0;
		struct event *ev = reserve(EV_SYSCALL);
		if (!ev)
			return 0;
		ev->nr = ctx->id;
		ev->ret = ctx->ret;
		ev->aux2 = -1;
#pragma unroll
		for (int i = 0; i < 6; i++)
			ev->args[i] = 0;
		submit(ev);
		return 0;
	}
	if (p->nr == 1 && p->args[0] == 2 && ctx->ret > 0) { /* write(2, ...): the whole line */
		struct big_event *x = bpf_ringbuf_reserve(&events, sizeof(*x), 0);
		if (!x) {
			count_drop(0);
			bpf_map_delete_elem(&pending, &tid);
			return 0;
		}
		finish_call(&x->ev, p, ctx, tgid);
		bpf_map_delete_elem(&pending, &tid);
		big_payload(x, x->ev.args[1], ctx->ret);
		submit(x);
		return 0;
	}
	struct event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count_drop(0);
		bpf_map_delete_elem(&pending, &tid);
		return 0;
	}
	finish_call(ev, p, ctx, tgid);
	bpf_map_delete_elem(&pending, &tid);
	if ((ev->nr == 0 || ev->nr == 45) && ctx->ret > 0) /* read, recvfrom */
		user_bytes(ev, ev->args[1], ctx->ret);
	submit(ev);
	return 0;
}

/* A syscall record made at exit from the saved registers (see trace_sys_exit_lean). */
static __always_inline void fill_lean(struct event *ev, __s64 nr, __s64 ret, __u64 *a)
{
	init_event(ev, EV_SYSCALL);
	ev->nr = nr;
	ev->ret = ret;
#pragma unroll
	for (int i = 0; i < 6; i++)
		ev->args[i] = a[i];
}

/* The recorder's syscall record, in place of the two programs above. It has no sys_enter
 * program: copying every call's arguments and strings at entry was most of the recorder's
 * cost to a create. It keeps only what a failure report reads: a failed call, and a write
 * (the runtime's error line, a child's error sent home). The arguments come from the
 * caller's saved registers at exit, and strings from its memory, which a failed call leaves
 * as they were. A record has no duration (dur_ns 0): there is no enter time. It is a raw
 * tracepoint: the kernel hands it the registers directly, without the classic tracepoint's
 * record, which matters on a hook that every syscall of the node passes. */
SEC("raw_tracepoint/sys_exit")
int trace_sys_exit_lean(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!is_traced(tgid))
		return 0;
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	__s64 ret = (__s64)ctx->args[1];
	__s64 nr = BPF_CORE_READ(regs, orig_ax);
	int failed = ret < 0 && ret >= -4095;
	int output = ret > 0 && (nr == 1 || nr == 20 || nr == 44 || nr == 46);
	if (!failed && !output)
		return 0;
	__u64 a[6];
	a[0] = BPF_CORE_READ(regs, di);
	a[1] = BPF_CORE_READ(regs, si);
	a[2] = BPF_CORE_READ(regs, dx);
	a[3] = BPF_CORE_READ(regs, r10);
	a[4] = BPF_CORE_READ(regs, r8);
	a[5] = BPF_CORE_READ(regs, r9);
	if (nr == 1 && a[0] == 2 && ret > 0) { /* write(2, ...): the whole line */
		struct big_event *x = bpf_ringbuf_reserve(&events, sizeof(*x), 0);
		if (!x) {
			count_drop(0);
			return 0;
		}
		fill_lean(&x->ev, nr, ret, a);
		big_payload(x, a[1], ret);
		submit(x);
		return 0;
	}
	struct event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count_drop(0);
		return 0;
	}
	fill_lean(ev, nr, ret, a);
	if (nr == 1 || nr == 44)
		user_bytes(ev, a[1], ret > 0 ? ret : (__s64)a[2]);
	else
		capture_enter(ev);
	submit(ev);
	return 0;
}

SEC("tracepoint/sched/sched_process_fork")
int trace_fork(struct tp_process_fork *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!is_traced(tgid))
		return 0;
	__u32 child = ctx->child_pid;
	__u8 one = 1;
	if (bpf_map_update_elem(&traced, &child, &one, BPF_ANY))
		count_drop(2);
	struct event *ev = reserve(EV_FORK);
	if (!ev)
		return 0;
	ev->aux0 = ctx->child_pid;
	ev->aux1 = ctx->parent_pid;
	submit(ev);
	return 0;
}

/* Starts tracing the current process when its new comm is the one --comm asked for. */
static __always_inline int follow_by_comm(__u32 tgid)
{
	__u32 zero = 0;
	struct follow_comm *f = bpf_map_lookup_elem(&follow, &zero);
	if (!f || !f->name[0])
		return 0;
	char comm[16];
	bpf_get_current_comm(comm, sizeof(comm));
#pragma unroll
	for (int i = 0; i < 16; i++) {
		if (comm[i] != f->name[i])
			return 0;
		if (!comm[i])
			break;
	}
	__u8 one = 1;
	if (bpf_map_update_elem(&traced, &tgid, &one, BPF_ANY)) {
		count_drop(2);
		return 0;
	}
	return 1;
}

/* The last STR_LEN bytes of the new image's argument block (NUL-separated) into s1:
 * runtimes put the container id last. aux1 = bytes copied, aux2 = whole block length. */
static __always_inline void exec_args_tail(struct event *ev)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	if (!mm)
		return;
	__u64 start = BPF_CORE_READ(mm, arg_start);
	__u64 end = BPF_CORE_READ(mm, arg_end);
	if (end <= start)
		return;
	__u64 len = end - start;
	__u32 n = len > STR_LEN ? STR_LEN : (__u32)len;
	if (n == 0 || n > STR_LEN)
		return;
	if (bpf_probe_read_user(ev->s1, n, (const void *)(end - n)) == 0) {
		ev->aux1 = n;
		ev->aux2 = len > 0x7fffffff ? 0x7fffffff : (__s32)len;
	}
}

static __always_inline void exec_args_head(struct big_event *x)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	if (!mm)
		return;
	__u64 start = BPF_CORE_READ(mm, arg_start);
	__u64 end = BPF_CORE_READ(mm, arg_end);
	if (end <= start)
		return;
	__u64 len = end - start;
	__u32 n = len > BIG_LEN ? BIG_LEN : (__u32)len;
	if (n == 0 || n > BIG_LEN)
		return;
	if (bpf_probe_read_user(x->big, n, (const void *)start) == 0)
		x->ev.args[0] = n;
}

SEC("tracepoint/sched/sched_process_exec")
int trace_exec(struct tp_process_exec *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	int known = is_traced(tgid);
	if (!known && !follow_by_comm(tgid))
		return 0;
	struct big_event *x = bpf_ringbuf_reserve(&events, sizeof(*x), 0);
	if (!x) {
		count_drop(0);
		return 0;
	}
	struct event *ev = &x->ev;
	__u64 id = bpf_get_current_pid_tgid();
	ev->ts_ns = bpf_ktime_get_ns();
	ev->dur_ns = 0;
	ev->nr = -1;
	ev->ret = 0;
	ev->kind = EV_EXEC;
	ev->pid = id >> 32;
	ev->tid = (__u32)id;
	ev->aux1 = 0;
	ev->aux2 = 0;
	ev->s1[0] = 0;
	ev->args[0] = 0;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	fill_ns(ev);
	ev->aux0 = ctx->old_pid;
	bpf_probe_read_kernel_str(ev->s0, STR_LEN, (const char *)ctx + (ctx->filename_loc & 0xffff));
	exec_args_tail(ev);
	exec_args_head(x);
	/* A command newly followed by its name wakes the reader at once, so that it reads the
	 * bundle (and the pod in it) while the create runs: containerd removes the bundle of a
	 * create that failed, sooner than the reader's next timed poll. */
	if (known)
		submit(x);
	else
		bpf_ringbuf_submit(x, BPF_RB_FORCE_WAKEUP);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int trace_exit(struct tp_process_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	if (!is_traced(tgid)) {
		/* a process the reader stopped following mid-syscall left its enter behind */
		bpf_map_delete_elem(&pending, &tid);
		return 0;
	}
	/* a thread that dies inside a syscall (SIGKILL, seccomp kill) leaves its enter behind */
	__s64 inside = 0;
	struct event *p = bpf_map_lookup_elem(&pending, &tid);
	if (p) {
		inside = p->nr + 1;
		bpf_map_delete_elem(&pending, &tid);
	}
	struct event *ev = reserve(EV_EXIT);
	if (!ev)
		return 0;
	fill_ns(ev);
	ev->aux0 = ctx->group_dead;
	ev->aux1 = (__s32)inside;
	submit(ev);
	if (ctx->group_dead)
		bpf_map_delete_elem(&traced, &tgid);
	if (tid != tgid) /* fork records add threads too */
		bpf_map_delete_elem(&traced, &tid);
	return 0;
}

SEC("tracepoint/task/task_rename")
int trace_rename(struct tp_task_rename *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!is_traced(tgid))
		return 0;
	struct event *ev = reserve(EV_RENAME);
	if (!ev)
		return 0;
	fill_ns(ev);
	ev->aux0 = ctx->pid;
	bpf_probe_read_kernel_str(ev->s0, 16, ctx->oldcomm);
	bpf_probe_read_kernel_str(ev->s1, 16, ctx->newcomm);
	submit(ev);
	return 0;
}

SEC("tracepoint/signal/signal_generate")
int trace_signal(struct tp_signal_generate *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 target = ctx->pid;
	if (!is_traced(tgid) && !is_traced(target))
		return 0;
	struct event *ev = reserve(EV_SIGNAL);
	if (!ev)
		return 0;
	ev->aux0 = ctx->sig;
	ev->aux1 = ctx->pid;
	ev->aux2 = ctx->result;
	ev->args[0] = ctx->code;
	ev->args[1] = ctx->group;
	bpf_probe_read_kernel_str(ev->s0, 16, ctx->comm);
	submit(ev);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
