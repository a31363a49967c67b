// SPDX-License-Identifier: GPL-2.0
/*
 * libvhmm on the host, without a device: linked with the shared library
 * through pkg-config (tests/unit/libvhmm.pkg), it checks the documented
 * errors of calls that need no device, the exported symbols and their
 * version, the pkg-config files, and the host build of the vhmm CLI.
 * The calls on a real device are tests/guest/libvhmm-tests.c.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_hmm.h>
#include "vhmm.h"
#include "tools/testing/selftests/kselftest_harness.h"

/* build/ (this binary is build/unit/libvhmm) */
static void build_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	char *p;
	int i;

	buf[n > 0 ? n : 0] = '\0';
	for (i = 0; i < 2; i++) {
		p = strrchr(buf, '/');
		if (p)
			*p = '\0';
	}
}

/* run a shell command, its first output line in @out; returns its status */
static int run(const char *cmd, char *out, size_t len)
{
	FILE *f = popen(cmd, "r");
	int status;

	out[0] = '\0';
	if (!f)
		return -1;
	if (!fgets(out, len, f))
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	while (fgetc(f) != EOF)
		;
	status = pclose(f);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(library_version)
{
	char want[16];

	snprintf(want, sizeof(want), "%d.%d", VHMM_VERSION_MAJOR,
		 VHMM_VERSION_MINOR);
	ASSERT_STREQ(want, vhmm_version());
}

TEST(open_errors)
{
	struct vhmm_dev *dev = (struct vhmm_dev *)1;

	/* no such device: the index is beyond what the driver creates */
	ASSERT_EQ(-ENOENT, vhmm_open(4096, &dev));
	ASSERT_EQ(-ENOENT, vhmm_open_path("/nonexistent/virtio_hmm0", &dev));
	/* not a virtio-hmm node */
	ASSERT_EQ(-ENOTTY, vhmm_open_path("/dev/null", &dev));
	ASSERT_EQ(-EINVAL, vhmm_open(-1, &dev));
	ASSERT_EQ(-EINVAL, vhmm_open(0, NULL));
	ASSERT_EQ(-EINVAL, vhmm_open_path(NULL, &dev));
	/* failed opens leave the output alone */
	ASSERT_EQ((struct vhmm_dev *)1, dev);
}

TEST(null_handle)
{
	struct vhmm_chase_result res;
	struct vhmm_stats st;
	struct vhmm_info info;
	char page[64];
	uint8_t prot;

	ASSERT_EQ(-EINVAL, vhmm_fd(NULL));
	ASSERT_EQ(-EINVAL, vhmm_index(NULL));
	ASSERT_EQ(-EINVAL, vhmm_get_info(NULL, &info));
	ASSERT_EQ(-EINVAL, vhmm_get_stats(NULL, &st));
	ASSERT_EQ(-EINVAL, vhmm_mirror_read(NULL, page, page, 1, NULL));
	ASSERT_EQ(-EINVAL, vhmm_mirror_write(NULL, page, page, 1, NULL));
	ASSERT_EQ(-EINVAL, vhmm_prefetch(NULL, page, 1, NULL));
	ASSERT_EQ(-EINVAL, vhmm_snapshot(NULL, page, 1, &prot));
	ASSERT_EQ(-EINVAL, vhmm_migrate_to_device(NULL, page, 1, NULL));
	ASSERT_EQ(-EINVAL, vhmm_migrate_to_system(NULL, page, 1, NULL));
	ASSERT_EQ(-EINVAL, vhmm_fill(NULL, page, 8, 0, NULL));
	ASSERT_EQ(-EINVAL, vhmm_copy(NULL, page, page + 8, 8, NULL));
	ASSERT_EQ(-EINVAL, vhmm_atomic(NULL, page, VHMM_ATOMIC_XCHG, 8, 0, 0,
				       NULL));
	ASSERT_EQ(-EINVAL, vhmm_chase(NULL, NULL, 0, 8, 8, 1, &res));
	vhmm_close(NULL);
}

TEST(list_without_driver)
{
	int idx[4];

	ASSERT_EQ(-EINVAL, vhmm_list(NULL, 1));
	if (!access("/sys/class/virtio_hmm", F_OK))
		SKIP(return, "this host has the virtio_hmm driver loaded");
	ASSERT_EQ(0, vhmm_list(NULL, 0));
	ASSERT_EQ(0, vhmm_list(idx, 4));
}

TEST(names)
{
	ASSERT_STREQ(strerror(ENOENT), vhmm_strerror(-ENOENT));
	ASSERT_STREQ("Success", vhmm_strerror(0));
	ASSERT_NE(NULL, vhmm_strerror(-100000));
	ASSERT_STREQ("private", vhmm_mode_name(VHMM_MODE_PRIVATE));
	ASSERT_STREQ("coherent", vhmm_mode_name(VHMM_MODE_COHERENT));
	ASSERT_STREQ("unknown", vhmm_mode_name((enum vhmm_mode)0));
	ASSERT_STREQ("coherent", vhmm_feature_name(VIRTIO_HMM_F_COHERENT));
	ASSERT_STREQ("atomics", vhmm_feature_name(VIRTIO_HMM_F_ATOMICS));
	ASSERT_STREQ("replayable_faults",
		     vhmm_feature_name(VIRTIO_HMM_F_REPLAYABLE_FAULTS));
	ASSERT_STREQ("version_1", vhmm_feature_name(VIRTIO_F_VERSION_1));
	ASSERT_EQ(NULL, vhmm_feature_name(63));
}

/* Every exported symbol is a vhmm_ function of version node VHMM_1.0. */
TEST(exports)
{
	char dir[PATH_MAX], cmd[PATH_MAX + 128], line[256];
	int n = 0, bad = 0;
	FILE *f;

	build_dir(dir, sizeof(dir));
	snprintf(cmd, sizeof(cmd),
		 "nm -D --defined-only %s/lib/libvhmm.so.1", dir);
	f = popen(cmd, "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f)) {
		char *sym = strrchr(line, ' ');

		sym = sym ? sym + 1 : line;
		sym[strcspn(sym, "\n")] = '\0';
		if (!strcmp(sym, "VHMM_1.0"))
			continue;
		n++;
		if (strncmp(sym, "vhmm_", 5) || !strstr(sym, "@@VHMM_1.0")) {
			TH_LOG("unexpected export %s", sym);
			bad++;
		}
	}
	ASSERT_EQ(0, WEXITSTATUS(pclose(f)));
	ASSERT_EQ(0, bad);
	ASSERT_GT(n, 20);
}

/* The soname and the versioned symbol resolve through the dynamic linker. */
TEST(dynamic_linker)
{
	void *h = dlopen("libvhmm.so.1", RTLD_NOW);
	const char *(*version)(void);

	ASSERT_NE(NULL, h) TH_LOG("%s", dlerror());
	version = (const char *(*)(void))dlvsym(h, "vhmm_version", "VHMM_1.0");
	ASSERT_NE(NULL, version);
	ASSERT_STREQ(vhmm_version(), version());
	/* internal helpers are hidden */
	ASSERT_EQ(NULL, dlsym(h, "vhmm_ioctl"));
	ASSERT_EQ(NULL, dlsym(h, "vhmm_dmirror"));
	dlclose(h);
}

TEST(pkg_config)
{
	char dir[PATH_MAX], cmd[PATH_MAX * 2], out[PATH_MAX * 2];
	char want[PATH_MAX + 16];

	build_dir(dir, sizeof(dir));
	snprintf(cmd, sizeof(cmd),
		 "PKG_CONFIG_PATH=%s/lib/pkgconfig pkg-config --modversion vhmm",
		 dir);
	ASSERT_EQ(0, run(cmd, out, sizeof(out)));
	ASSERT_STREQ(vhmm_version(), out);
	snprintf(cmd, sizeof(cmd),
		 "PKG_CONFIG_PATH=%s/lib/pkgconfig pkg-config --libs vhmm", dir);
	ASSERT_EQ(0, run(cmd, out, sizeof(out)));
	snprintf(want, sizeof(want), "-L%s/lib", dir);
	ASSERT_NE(NULL, strstr(out, want));
	ASSERT_NE(NULL, strstr(out, "-lvhmm"));
	/* the installable one points at its prefix */
	snprintf(cmd, sizeof(cmd),
		 "PKG_CONFIG_DISABLE_UNINSTALLED=1 PKG_CONFIG_PATH=%s/lib/pkgconfig "
		 "pkg-config --variable=includedir vhmm", dir);
	ASSERT_EQ(0, run(cmd, out, sizeof(out)));
	ASSERT_NE(NULL, strstr(out, "/include"));
	ASSERT_EQ(NULL, strstr(out, dir));
}

/* The CLI linked with the shared library, on a host without devices. */
TEST(cli)
{
	char dir[PATH_MAX], cmd[PATH_MAX + 64], out[256];

	build_dir(dir, sizeof(dir));
	snprintf(cmd, sizeof(cmd), "%s/lib/vhmm version", dir);
	ASSERT_EQ(0, run(cmd, out, sizeof(out)));
	ASSERT_NE(NULL, strstr(out, vhmm_version()));
	snprintf(cmd, sizeof(cmd), "%s/lib/vhmm info 4096 2>&1", dir);
	ASSERT_EQ(1, run(cmd, out, sizeof(out)));
	ASSERT_NE(NULL, strstr(out, strerror(ENOENT)));
	snprintf(cmd, sizeof(cmd), "%s/lib/vhmm no-such-command 2>/dev/null",
		 dir);
	ASSERT_EQ(2, run(cmd, out, sizeof(out)));
	if (!access("/sys/class/virtio_hmm", F_OK))
		SKIP(return, "this host has the virtio_hmm driver loaded");
	/* no driver: say so, and exit 1 */
	snprintf(cmd, sizeof(cmd), "%s/lib/vhmm list 2>&1", dir);
	ASSERT_EQ(1, run(cmd, out, sizeof(out)));
	ASSERT_NE(NULL, strstr(out, "driver is not loaded: modprobe virtio_hmm"));
	/* a usage error names the argument */
	snprintf(cmd, sizeof(cmd), "%s/lib/vhmm migrate -p 0 2>&1", dir);
	ASSERT_EQ(2, run(cmd, out, sizeof(out)));
	ASSERT_NE(NULL, strstr(out, "-p 0: "));
}

TEST_HARNESS_MAIN
