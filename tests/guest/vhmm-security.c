// SPDX-License-Identifier: GPL-2.0
/*
 * vhmm-security: a process cannot reach another process's memory through
 * the device. A file of /dev/virtio_hmm<N> mirrors the address space of the
 * process that opened it: another process holding it (inherited across
 * fork, passed to another process) gets EPERM from every ioctl, and a
 * process's own file resolves addresses only in its own address space. The
 * device node is root's alone (0600): an unprivileged process cannot open
 * it. See docs/virtio-hmm.md, "The guest driver's character device".
 */
#include <pwd.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "vhmm_test.h"

#define NPAGES		8
#define SECRET		0x5ec2e75ec2e75ec2ULL

FIXTURE(security)
{
	int index;
	int fd;
	size_t size;
	uint64_t *secret;	/* the parent's data */
};

FIXTURE_SETUP(security)
{
	size_t i;

	self->fd = -1;
	self->index = vhmm_find("private", 0);
	if (self->index < 0)
		SKIP(return, "no private virtio-hmm device");
	self->size = NPAGES * sysconf(_SC_PAGESIZE);
	self->secret = mmap(NULL, self->size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(self->secret, MAP_FAILED);
	for (i = 0; i < self->size / 8; i++)
		self->secret[i] = SECRET ^ i;
	self->fd = vhmm_open_index(self->index);
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(security)
{
	if (self->fd >= 0)
		close(self->fd);
}

static bool secret_intact(FIXTURE_DATA(security) *self)
{
	size_t i;

	for (i = 0; i < self->size / 8; i++)
		if (self->secret[i] != (SECRET ^ i))
			return false;
	return true;
}

/*
 * What a process holding someone else's file gets: EPERM for every ioctl
 * that names memory, and for the rest too. Returns a bit mask of the
 * calls that did not fail with EPERM (0 is right).
 */
static int try_foreign_fd(int fd, void *addr, size_t size)
{
	uint64_t *buf = calloc(1, size);
	struct virtio_hmm_info info;
	struct virtio_hmm_ioc_stats st;
	int bad = 0;

	if (vhmm_dmirror(fd, HMM_DMIRROR_READ, addr, buf, size / sysconf(_SC_PAGESIZE), NULL) != -EPERM)
		bad |= 1;
	if (vhmm_dmirror(fd, HMM_DMIRROR_WRITE, addr, buf, size / sysconf(_SC_PAGESIZE), NULL) != -EPERM)
		bad |= 2;
	if (vhmm_dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, addr, buf, size / sysconf(_SC_PAGESIZE),
			 NULL) != -EPERM)
		bad |= 4;
	if (vhmm_job_fill(fd, addr, size, 0xbad, NULL) != -EPERM)
		bad |= 8;
	if (vhmm_job_copy(fd, buf, addr, size) != -EPERM)
		bad |= 16;
	if (vhmm_job_atomic(fd, addr, VIRTIO_HMM_OP_XCHG, 8, 0xbad, 0, NULL) != -EPERM)
		bad |= 32;
	if (ioctl(fd, VIRTIO_HMM_IOC_INFO, &info) != -1 || errno != EPERM)
		bad |= 64;
	if (ioctl(fd, VIRTIO_HMM_IOC_STATS, &st) != -1 || errno != EPERM)
		bad |= 128;
	/* nothing of the owner's leaked into the buffer */
	if (buf[0] || buf[1])
		bad |= 256;
	free(buf);
	return bad;
}

/* A child uses the file it inherited: the parent's memory stays out of reach. */
TEST_F(security, inherited_fd)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		/*
		 * Same address, but the child's copy: whatever the device
		 * did through the parent's file would hit the parent's.
		 */
		_exit(try_foreign_fd(self->fd, self->secret, self->size));
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0);
	ASSERT_TRUE(secret_intact(self));
	/* the owner's file still works */
	ASSERT_EQ(vhmm_job_fill(self->fd, self->secret, 8, SECRET, NULL), 0);
	ASSERT_TRUE(secret_intact(self));
}

/*
 * A file handed to a process that existed before it was opened, and that
 * has its own memory where the owner's secret is: taken with
 * pidfd_getfd(), as a file passed over a unix socket would be (the test
 * kernel has no unix sockets).
 */
TEST_F(security, passed_fd)
{
	int pipefd[2], status;
	pid_t pid;

	ASSERT_EQ(pipe(pipefd), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		int fd, owner_fd, pidfd, bad;

		close(self->fd);
		if (read(pipefd[0], &owner_fd, sizeof(owner_fd)) !=
		    sizeof(owner_fd))
			_exit(255);
		pidfd = syscall(SYS_pidfd_open, getppid(), 0);
		fd = pidfd < 0 ? -1 : syscall(SYS_pidfd_getfd, pidfd, owner_fd, 0);
		if (fd < 0)
			_exit(254);
		bad = try_foreign_fd(fd, self->secret, self->size);
		/* a file of its own works, on its own memory */
		close(fd);
		fd = vhmm_open_index(self->index);
		if (fd < 0 || vhmm_job_fill(fd, self->secret, 8, 1, NULL) ||
		    self->secret[0] != 1)
			bad |= 512;
		_exit(bad);
	}
	ASSERT_EQ(write(pipefd[1], &self->fd, sizeof(self->fd)),
		  sizeof(self->fd));
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0);
	ASSERT_TRUE(secret_intact(self));
}

/*
 * A process names, through its own file, an address that only the other
 * process has mapped: the device resolves it in the caller's address
 * space, where it is a hole.
 */
TEST_F(security, other_process_address)
{
	int pipe_to_child[2], status;
	uint64_t *only_parent;
	pid_t pid;

	ASSERT_EQ(pipe(pipe_to_child), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		uint64_t *buf = calloc(1, self->size), *addr;
		int fd = vhmm_open_index(self->index), bad = 0;

		if (fd < 0 || read(pipe_to_child[0], &addr, sizeof(addr)) !=
			      sizeof(addr))
			_exit(255);
		if (vhmm_dmirror(fd, HMM_DMIRROR_READ, addr, buf, NPAGES,
				 NULL) != -EFAULT)
			bad |= 1;
		if (vhmm_job_fill(fd, addr, self->size, 0xbad, NULL) != -EFAULT)
			bad |= 2;
		if (vhmm_job_copy(fd, buf, addr, self->size) != -EFAULT)
			bad |= 4;
		if (vhmm_dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, addr, buf,
				 NPAGES, NULL) != -EINVAL)
			bad |= 8;
		if (buf[0] || buf[1])
			bad |= 16;
		_exit(bad);
	}
	/* mapped after the fork: the child has nothing there */
	only_parent = mmap(NULL, self->size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(only_parent, MAP_FAILED);
	memcpy(only_parent, self->secret, self->size);
	/* and in device memory, for good measure */
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV,
			       only_parent, self->secret, NPAGES, NULL), 0);
	ASSERT_EQ(write(pipe_to_child[1], &only_parent, sizeof(only_parent)),
		  sizeof(only_parent));
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0);
	ASSERT_EQ(memcmp(only_parent, self->secret, self->size), 0);
	ASSERT_TRUE(secret_intact(self));
}

/* The node is a character device, root's, mode 0600. */
TEST_F(security, node_permissions)
{
	char path[64];
	struct stat st;
	int status;
	pid_t pid;

	snprintf(path, sizeof(path), "/dev/virtio_hmm%d", self->index);
	ASSERT_EQ(stat(path, &st), 0);
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(st.st_mode & 07777, 0600);
	EXPECT_EQ(st.st_uid, 0);
	EXPECT_EQ(st.st_gid, 0);

	/* an unprivileged user cannot open it */
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		int fd;

		if (setgid(65534) || setuid(65534))
			_exit(255);
		fd = open(path, O_RDWR);
		_exit(fd < 0 && errno == EACCES ? 0 : 1);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_HARNESS_MAIN
