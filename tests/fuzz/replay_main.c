// SPDX-License-Identifier: Apache-2.0
/*
 * replay_main.c: runs a libFuzzer target over files without libFuzzer (SQLite fuzzcheck's
 * model), so every build replays the committed corpus and every past crash input.
 *
 *   fuzz_<name>_replay [-v] PATH...
 *
 * Each PATH is a file or a directory (its regular files, in name order, not recursive).
 * Each input is handed to LLVMFuzzerTestOneInput in a heap buffer of exactly its size, so
 * ASan reports a read one byte past the end. Exits 0 after at least one input ran, 1 on a
 * usage or I/O error or when no input was found; a crash names the file on stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static char current[4096];
static const int fatal_sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
static struct sigaction old_act[sizeof(fatal_sigs) / sizeof(fatal_sigs[0])];

/* Names the input, then hands the signal to whoever had it (ASan's handler prints the
 * report), or to the default action. */
static void
on_fatal(int sig, siginfo_t *info, void *ctx)
{
	static const char pre[] = "replay: crashed on input ";
	unsigned i;

	/* Only async-signal-safe calls here. */
	if (write(2, pre, sizeof(pre) - 1) < 0 || write(2, current, strlen(current)) < 0 ||
	    write(2, "\n", 1) < 0) {
		/* nothing more to do */
	}
	for (i = 0; i < sizeof(fatal_sigs) / sizeof(fatal_sigs[0]); i++) {
		if (fatal_sigs[i] != sig)
			continue;
		if ((old_act[i].sa_flags & SA_SIGINFO) && old_act[i].sa_sigaction) {
			sigaction(sig, &old_act[i], NULL);
			old_act[i].sa_sigaction(sig, info, ctx);
			return;
		}
		if (old_act[i].sa_handler != SIG_DFL && old_act[i].sa_handler != SIG_IGN) {
			sigaction(sig, &old_act[i], NULL);
			old_act[i].sa_handler(sig);
			return;
		}
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
install_handlers(void)
{
	struct sigaction sa;
	unsigned i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fatal;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(fatal_sigs) / sizeof(fatal_sigs[0]); i++)
		sigaction(fatal_sigs[i], &sa, &old_act[i]);
}

static int
run_file(const char *path, int verbose)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* malloc(0) may return NULL; an empty input still gets a valid pointer. */
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n <= 0) {
			fprintf(stderr, "replay: %s: short read\n", path);
			free(buf);
			close(fd);
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	snprintf(current, sizeof(current), "%s", path);
	if (verbose)
		printf("replay: %s (%zu bytes)\n", path, got);
	LLVMFuzzerTestOneInput(buf, got);
	free(buf);
	return 0;
}

static int
name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
skip_dot(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Returns the number of inputs run, or -1. */
static long
run_path(const char *path, int verbose)
{
	struct dirent **names;
	struct stat st;
	long count = 0;
	int n, i;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path, verbose) < 0 ? -1 : 1;
	n = scandir(path, &names, skip_dot, name_cmp);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		char file[4096];

		snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
		if (stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(file, verbose) < 0)
				count = -1;
			else if (count >= 0)
				count++;
		}
		free(names[i]);
	}
	free(names);
	return count;
}

int
main(int argc, char **argv)
{
	long total = 0;
	int verbose = 0, i, first = 1;

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		verbose = 1;
		first = 2;
	}
	if (argc <= first) {
		fprintf(stderr, "usage: %s [-v] FILE_OR_DIR...\n", argv[0]);
		return 1;
	}
	install_handlers();
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = first; i < argc; i++) {
		long n = run_path(argv[i], verbose);

		if (n < 0)
			return 1;
		printf("replay: %ld input(s) from %s\n", n, argv[i]);
		total += n;
	}
	if (total == 0) {
		fprintf(stderr, "replay: no inputs (commit at least one seed)\n");
		return 1;
	}
	return 0;
}
