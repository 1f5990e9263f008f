/*
 * t_etcd.h: a real etcd for unit tests, as test_etcd.c starts one
 * (/usr/bin/etcd on free 127.0.0.1 ports, its data and log in a test
 * directory, under setpriv --pdeathsig so it dies with the test), that
 * can also be killed and restarted on the same ports and data. Killed by
 * its pid only. Include once, after t.h and t_util.h.
 */
#ifndef UNIQ_T_ETCD_H
#define UNIQ_T_ETCD_H

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster/etcd.h"

#define T_ETCD_BIN "/usr/bin/etcd"
#define T_SETPRIV_BIN "/usr/bin/setpriv"
#define T_ETCD_START_MS 20000

static volatile pid_t t_etcd_pid = -1;
static char t_etcd_url[64];
static char t_etcd_dir[256];
static int t_etcd_cport, t_etcd_pport;

static inline int64_t t_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void t_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static inline int t_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd, port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* SIGKILLs etcd (if running) and reaps it. */
static inline void t_etcd_kill(void)
{
	pid_t pid = t_etcd_pid;

	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	t_etcd_pid = -1;
}

static inline void t_etcd_on_signal(int sig)
{
	if (t_etcd_pid > 0)
		kill(t_etcd_pid, SIGKILL);
	_exit(128 + sig);
}

/* A signal (meson's timeout) must not leave etcd running. */
static inline void t_etcd_guard(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = t_etcd_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static inline int t_etcd_spawn(bool fresh)
{
	char data[320], log[320], curl_[64], purl[64], cluster[96];
	char a_setpriv[] = T_SETPRIV_BIN, a_pdeath[] = "--pdeathsig",
	     a_kill[] = "KILL", a_etcd[] = T_ETCD_BIN,
	     a_data[] = "--data-dir", a_lc[] = "--listen-client-urls",
	     a_ac[] = "--advertise-client-urls",
	     a_lp[] = "--listen-peer-urls",
	     a_ap[] = "--initial-advertise-peer-urls",
	     a_ic[] = "--initial-cluster", a_logger[] = "--logger=zap",
	     a_out[] = "--log-outputs=stderr", a_path[] = "PATH=/usr/bin:/bin";
	char *argv[] = { a_setpriv, a_pdeath, a_kill, a_etcd, a_data, data,
			 a_lc, curl_, a_ac, curl_, a_lp, purl, a_ap, purl,
			 a_ic, cluster, a_logger, a_out, NULL };
	char *envp[] = { a_path, NULL };
	char **args = argv;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc;

	t_path_in(data, sizeof(data), t_etcd_dir, "etcd-data");
	if (fresh)
		t_rm_rf(data);
	t_path_in(log, sizeof(log), t_etcd_dir, "etcd.log");
	snprintf(curl_, sizeof(curl_), "http://127.0.0.1:%d", t_etcd_cport);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", t_etcd_pport);
	snprintf(cluster, sizeof(cluster), "default=%s", purl);
	if (access(T_SETPRIV_BIN, X_OK) != 0)
		args = argv + 3;
	if (posix_spawn_file_actions_init(&fa))
		return -1;
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log,
					 O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	rc = posix_spawn(&pid, args[0], &fa, NULL, args, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		fprintf(stderr, "posix_spawn %s: %s\n", args[0], strerror(rc));
		return -1;
	}
	t_etcd_pid = pid;
	snprintf(t_etcd_url, sizeof(t_etcd_url), "%s", curl_);
	return 0;
}

/* Waits until etcd has a leader: 0, or -1 (it exited: *exited). */
static inline int t_etcd_wait(int *exited)
{
	int64_t deadline = t_mono_ms() + T_ETCD_START_MS;
	struct etcd *e = NULL;
	int rc = -1;

	*exited = 0;
	if (etcd_open(&e, t_etcd_url, 1000))
		return -1;
	while (t_mono_ms() < deadline) {
		uint64_t member = 0, leader = 0;

		if (waitpid(t_etcd_pid, NULL, WNOHANG) == t_etcd_pid) {
			t_etcd_pid = -1;
			*exited = 1;
			break;
		}
		if (etcd_status(e, &member, &leader) == 0 && leader) {
			rc = 0;
			break;
		}
		t_sleep_ms(100);
	}
	etcd_free(e);
	return rc;
}

/* Starts a fresh etcd with its files in dir (three tries on new ports
 * when it loses a race for them). 0 with t_etcd_url set, or -1. */
static inline int t_etcd_start(const char *dir)
{
	int attempt, exited;

	snprintf(t_etcd_dir, sizeof(t_etcd_dir), "%s", dir);
	for (attempt = 0; attempt < 3; attempt++) {
		t_etcd_cport = t_free_port();
		t_etcd_pport = t_free_port();
		if (t_etcd_cport < 0 || t_etcd_pport < 0 ||
		    t_etcd_cport == t_etcd_pport)
			continue;
		if (t_etcd_spawn(true))
			return -1;
		if (t_etcd_wait(&exited) == 0)
			return 0;
		t_etcd_kill();
		if (!exited)
			break;
	}
	fprintf(stderr, "etcd did not start (see %s/etcd.log)\n", dir);
	return -1;
}

/* Starts the killed etcd again on its ports and data. 0 or -1. */
static inline int t_etcd_restart(void)
{
	int exited;

	if (t_etcd_spawn(false))
		return -1;
	if (t_etcd_wait(&exited) == 0)
		return 0;
	t_etcd_kill();
	return -1;
}

#endif
