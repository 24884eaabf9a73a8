// The kernel's floor under `list`: for every container under ROOT, exactly the reads youki's
// `list` makes (state.json; /proc/PID/stat for the pid's start time; the v1 freezer's
// freezer.state; a stat of exec.fifo), without parsing anything, on THREADS threads. MASK
// picks the reads (1 state.json, 2 /proc stat, 4 freezer, 8 fifo; 15 all), so each one's
// cost shows alone. The pids are read before the clock starts. Not part of CI:
//
//   cc -O2 -pthread -o /tmp/list_floor tests/bench/list_floor.c
//   /tmp/list_floor /run/youki 2 15       # prints containers, threads, mask and milliseconds
//
// Assumes youki's default v1 cgroup path (/sys/fs/cgroup/freezer/ID), as `youki create`
// without cgroupsPath makes on a v1 or hybrid host.
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_IDS 8192

static char ids[MAX_IDS][128];
static int pids[MAX_IDS];
static int count, mask;
static const char *root;

struct run {
    int first, end;
};

/* open, read to EOF, close: what reading a small file costs */
static void read_whole(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    while (read(fd, buf, len) > 0) {
    }
    close(fd);
}

static void *reads(void *arg)
{
    const struct run *run = arg;
    char path[512], buf[8192];
    struct stat st;
    for (int i = run->first; i < run->end; i++) {
        if (mask & 1) {
            snprintf(path, sizeof path, "%s/%s/state.json", root, ids[i]);
            read_whole(path, buf, sizeof buf);
        }
        if (mask & 2) {
            snprintf(path, sizeof path, "/proc/%d/stat", pids[i]);
            read_whole(path, buf, sizeof buf);
        }
        if (mask & 4) {
            snprintf(path, sizeof path, "/sys/fs/cgroup/freezer/%s/freezer.state", ids[i]);
            read_whole(path, buf, sizeof buf);
        }
        if (mask & 8) {
            snprintf(path, sizeof path, "%s/%s/exec.fifo", root, ids[i]);
            stat(path, &st);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s ROOT THREADS MASK\n", argv[0]);
        return 2;
    }
    root = argv[1];
    int threads = atoi(argv[2]);
    mask = atoi(argv[3]);
    if (threads < 1 || threads > 64) {
        fprintf(stderr, "THREADS must be 1 to 64\n");
        return 2;
    }
    DIR *dir = opendir(root);
    if (!dir) {
        perror(root);
        return 1;
    }
    struct dirent *e;
    char path[512], buf[8192];
    while ((e = readdir(dir)) && count < MAX_IDS) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof ids[0])
            continue;
        strcpy(ids[count], e->d_name);
        snprintf(path, sizeof path, "%s/%s/state.json", root, e->d_name);
        memset(buf, 0, sizeof buf);
        read_whole(path, buf, sizeof buf - 1);
        const char *pid = strstr(buf, "\"pid\":");
        pids[count++] = pid ? atoi(pid + 6) : 1;
    }
    closedir(dir);

    struct timespec start, end;
    pthread_t tid[64];
    struct run runs[64];
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int t = 0; t < threads; t++) {
        runs[t].first = count * t / threads;
        runs[t].end = count * (t + 1) / threads;
        pthread_create(&tid[t], NULL, reads, &runs[t]);
    }
    for (int t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    clock_gettime(CLOCK_MONOTONIC, &end);
    printf("%d containers, %d threads, mask %d: %.2f ms\n", count, threads, mask,
           (end.tv_sec - start.tv_sec) * 1e3 + (end.tv_nsec - start.tv_nsec) / 1e6);
    return 0;
}
