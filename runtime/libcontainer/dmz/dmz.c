/* youki's exec trampoline. init runs this tiny program from a sealed memfd, and it execs
 * the container process. If the container's program resolves to /proc/self/exe (directly,
 * as a script interpreter or as an ELF interpreter), the kernel hands it this sealed memfd,
 * never the youki binary on the host, which defeats the overwrite of CVE-2019-5736.
 *
 * argv: [path, arg0, arg1, ...]; it runs execve(path, &argv[1], envp) and exits 127 on
 * failure. No libc: built with -nostdlib -static, x86_64 only. */

static long sys3(long n, long a, long b, long c) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}

__attribute__((used)) void dmz_main(long *sp) {
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    if (argc >= 2) {
        sys3(59 /* execve */, (long)argv[0], (long)(argv + 1), (long)envp);
    }
    static const char msg[] = "youki: exec of the container process failed\n";
    sys3(1 /* write */, 2, (long)msg, sizeof(msg) - 1);
    sys3(60 /* exit */, 127, 0, 0);
    for (;;) {}
}

__asm__(".globl _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call dmz_main\n hlt\n");
