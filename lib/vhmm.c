// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libvhmm: typed calls over the virtio-hmm guest driver's ioctls.
 *
 * Each call fills the ioctl's argument from its parameters, issues it on
 * the handle's file descriptor and copies results out; the ABI types and
 * numbers come only from include/linux/virtio_hmm_ioctl.h and
 * include/linux/virtio_hmm.h. Failures return -errno (see include/vhmm.h).
 * Only symbols marked VHMM_EXPORT are visible (-fvisibility=hidden), and
 * they carry the version node of lib/libvhmm.map.
 */
#define _GNU_SOURCE		/* strerrordesc_np() */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_hmm.h>
#include <linux/virtio_hmm_ioctl.h>
#include "vhmm.h"

#define VHMM_SYSFS_CLASS	"/sys/class/virtio_hmm"
#define VHMM_NODE_PREFIX	"virtio_hmm"
#define VHMM_PREFETCH_CHUNK	512	/* pages per READ of vhmm_prefetch() */

#define STR(x)			#x
#define XSTR(x)			STR(x)

struct vhmm_dev {
	int fd;
	int index;		/* -1: not found in sysfs */
	pid_t owner;		/* the process the driver bound at open */
	uint32_t page_size;
};

const char *vhmm_version(void)
{
	return XSTR(VHMM_VERSION_MAJOR) "." XSTR(VHMM_VERSION_MINOR);
}

const char *vhmm_strerror(int err)
{
	static const char unknown[] = "Unknown error";
	const char *s;

	if (err >= 0)
		return err ? unknown : "Success";
	s = strerrordesc_np(-err);
	return s ? s : unknown;
}

const char *vhmm_mode_name(enum vhmm_mode mode)
{
	switch (mode) {
	case VHMM_MODE_PRIVATE:
		return "private";
	case VHMM_MODE_COHERENT:
		return "coherent";
	}
	return "unknown";
}

const char *vhmm_feature_name(unsigned int bit)
{
	switch (bit) {
	case VIRTIO_HMM_F_COHERENT:
		return "coherent";
	case VIRTIO_HMM_F_ATOMICS:
		return "atomics";
	case VIRTIO_HMM_F_REPLAYABLE_FAULTS:
		return "replayable_faults";
	case VIRTIO_RING_F_INDIRECT_DESC:
		return "ring_indirect_desc";
	case VIRTIO_RING_F_EVENT_IDX:
		return "ring_event_idx";
	case VIRTIO_F_VERSION_1:
		return "version_1";
	case VIRTIO_F_ACCESS_PLATFORM:
		return "access_platform";
	case VIRTIO_F_RING_PACKED:
		return "ring_packed";
	case VIRTIO_F_IN_ORDER:
		return "in_order";
	case VIRTIO_F_ORDER_PLATFORM:
		return "order_platform";
	case VIRTIO_F_SR_IOV:
		return "sr_iov";
	case VIRTIO_F_RING_RESET:
		return "ring_reset";
	case VIRTIO_F_ANY_LAYOUT:
		return "any_layout";
	case VIRTIO_F_NOTIFY_ON_EMPTY:
		return "notify_on_empty";
	}
	return NULL;
}

/* "virtio_hmm<N>" -> N, or -1 */
static int vhmm_parse_name(const char *name)
{
	size_t plen = strlen(VHMM_NODE_PREFIX);
	char *end;
	long n;

	if (strncmp(name, VHMM_NODE_PREFIX, plen) || !name[plen])
		return -1;
	errno = 0;
	n = strtol(name + plen, &end, 10);
	if (*end || errno || n < 0 || n > INT_MAX)
		return -1;
	return (int)n;
}

static int vhmm_cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

int vhmm_list(int *indices, unsigned int max)
{
	unsigned int count = 0, room = 16;
	struct dirent *de;
	int *all, ret;
	DIR *dir;

	if (!indices && max)
		return -EINVAL;
	dir = opendir(VHMM_SYSFS_CLASS);
	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	all = malloc(room * sizeof(*all));
	if (!all) {
		closedir(dir);
		return -ENOMEM;
	}
	errno = 0;
	while ((de = readdir(dir))) {
		int n = vhmm_parse_name(de->d_name);

		if (n < 0)
			continue;
		if (count == room) {
			int *bigger = realloc(all, 2 * room * sizeof(*all));

			if (!bigger) {
				ret = -ENOMEM;
				goto out;
			}
			all = bigger;
			room *= 2;
		}
		all[count++] = n;
		errno = 0;
	}
	if (errno) {
		ret = -errno;
		goto out;
	}
	qsort(all, count, sizeof(*all), vhmm_cmp_int);
	if (max)
		memcpy(indices, all, (count < max ? count : max) * sizeof(*all));
	ret = count > INT_MAX ? INT_MAX : (int)count;
out:
	free(all);
	closedir(dir);
	return ret;
}

/* N of the node's sysfs entry (/sys/dev/char/MAJ:MIN -> .../virtio_hmmN) */
static int vhmm_sysfs_index(int fd)
{
	char link[64], target[PATH_MAX];
	const char *base;
	struct stat st;
	ssize_t len;

	if (fstat(fd, &st) || !S_ISCHR(st.st_mode))
		return -1;
	snprintf(link, sizeof(link), "/sys/dev/char/%u:%u",
		 major(st.st_rdev), minor(st.st_rdev));
	len = readlink(link, target, sizeof(target) - 1);
	if (len < 0)
		return -1;
	target[len] = '\0';
	base = strrchr(target, '/');
	return vhmm_parse_name(base ? base + 1 : target);
}

static int vhmm_check(const struct vhmm_dev *dev)
{
	if (!dev)
		return -EINVAL;
	if (getpid() != dev->owner)
		return -EBADFD;
	return 0;
}

static int vhmm_ioctl(const struct vhmm_dev *dev, unsigned long req,
		      void *arg)
{
	int ret = vhmm_check(dev);

	if (ret)
		return ret;
	return ioctl(dev->fd, req, arg) ? -errno : 0;
}

int vhmm_open_path(const char *path, struct vhmm_dev **devp)
{
	struct virtio_hmm_info info;
	struct vhmm_dev *dev;
	int ret;

	if (!path || !devp)
		return -EINVAL;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->fd = open(path, O_RDWR | O_CLOEXEC);
	if (dev->fd < 0) {
		ret = -errno;
		free(dev);
		return ret;
	}
	dev->owner = getpid();
	/* a node that does not answer INFO is not a virtio-hmm device */
	ret = vhmm_ioctl(dev, VIRTIO_HMM_IOC_INFO, &info);
	if (ret == -EINVAL)
		ret = -ENOTTY;
	if (ret) {
		close(dev->fd);
		free(dev);
		return ret;
	}
	dev->page_size = info.page_size;
	dev->index = vhmm_sysfs_index(dev->fd);
	*devp = dev;
	return 0;
}

int vhmm_open(int index, struct vhmm_dev **devp)
{
	char path[32];

	if (index < 0 || !devp)
		return -EINVAL;
	snprintf(path, sizeof(path), "/dev/" VHMM_NODE_PREFIX "%d", index);
	return vhmm_open_path(path, devp);
}

void vhmm_close(struct vhmm_dev *dev)
{
	if (!dev)
		return;
	close(dev->fd);
	free(dev);
}

int vhmm_fd(const struct vhmm_dev *dev)
{
	return dev ? dev->fd : -EINVAL;
}

int vhmm_index(const struct vhmm_dev *dev)
{
	if (!dev)
		return -EINVAL;
	return dev->index < 0 ? -ENODEV : dev->index;
}

int vhmm_get_info(struct vhmm_dev *dev, struct vhmm_info *info)
{
	struct virtio_hmm_info i;
	int ret;

	if (!info)
		return -EINVAL;
	ret = vhmm_ioctl(dev, VIRTIO_HMM_IOC_INFO, &i);
	if (ret)
		return ret;
	info->mode = i.mode == HMM_DMIRROR_MEMORY_DEVICE_COHERENT ?
		     VHMM_MODE_COHERENT : VHMM_MODE_PRIVATE;
	info->page_size = i.page_size;
	info->devmem_size = i.devmem_size;
	info->devmem_free = i.devmem_free;
	info->features = i.features;
	return 0;
}

int vhmm_get_stats(struct vhmm_dev *dev, struct vhmm_stats *st)
{
	struct virtio_hmm_ioc_stats s;
	int ret;

	if (!st)
		return -EINVAL;
	ret = vhmm_ioctl(dev, VIRTIO_HMM_IOC_STATS, &s);
	if (ret)
		return ret;
	st->faults = s.faults;
	st->fault_batches = s.fault_batches;
	st->pages_to_dev = s.pages_to_dev;
	st->pages_to_sys = s.pages_to_sys;
	st->bytes_to_dev = s.bytes_to_dev;
	st->bytes_to_sys = s.bytes_to_sys;
	st->cpu_faults = s.cpu_faults;
	st->evictions = s.evictions;
	st->invalidations = s.invalidations;
	st->devmem_used = s.devmem_used;
	return 0;
}

/*
 * A test_hmm-style command. The driver validates addr and npages (-EINVAL
 * for an unaligned addr, no pages or an overflowing range).
 */
static int vhmm_dmirror(struct vhmm_dev *dev, unsigned long req,
			const void *addr, const void *ptr, uint64_t npages,
			struct hmm_dmirror_cmd *out)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)ptr,
		.npages = npages,
	};
	int ret = vhmm_ioctl(dev, req, &cmd);

	if (!ret && out)
		*out = cmd;
	return ret;
}

int vhmm_mirror_read(struct vhmm_dev *dev, const void *addr, void *buf,
		     uint64_t npages, uint64_t *faults)
{
	struct hmm_dmirror_cmd cmd;
	int ret;

	if (!buf)
		return -EINVAL;
	ret = vhmm_dmirror(dev, HMM_DMIRROR_READ, addr, buf, npages, &cmd);
	if (!ret && faults)
		*faults = cmd.faults;
	return ret;
}

int vhmm_mirror_write(struct vhmm_dev *dev, void *addr, const void *buf,
		      uint64_t npages, uint64_t *faults)
{
	struct hmm_dmirror_cmd cmd;
	int ret;

	if (!buf)
		return -EINVAL;
	ret = vhmm_dmirror(dev, HMM_DMIRROR_WRITE, addr, buf, npages, &cmd);
	if (!ret && faults)
		*faults = cmd.faults;
	return ret;
}

/* bytes of @npages device pages, or 0 if that does not fit in a size_t */
static size_t vhmm_bytes(const struct vhmm_dev *dev, uint64_t npages)
{
	if (!npages || npages > SIZE_MAX / dev->page_size)
		return 0;
	return npages * dev->page_size;
}

int vhmm_prefetch(struct vhmm_dev *dev, const void *addr, uint64_t npages,
		  uint64_t *faults)
{
	uint64_t done = 0, total = 0, chunk;
	struct hmm_dmirror_cmd cmd;
	void *bounce;
	int ret;

	ret = vhmm_check(dev);
	if (ret)
		return ret;
	if (!npages || !vhmm_bytes(dev, npages) ||
	    (uintptr_t)addr % dev->page_size)
		return -EINVAL;
	chunk = npages < VHMM_PREFETCH_CHUNK ? npages : VHMM_PREFETCH_CHUNK;
	bounce = malloc(chunk * dev->page_size);
	if (!bounce)
		return -ENOMEM;
	while (done < npages) {
		uint64_t n = npages - done < chunk ? npages - done : chunk;

		ret = vhmm_dmirror(dev, HMM_DMIRROR_READ,
				   (const char *)addr + done * dev->page_size,
				   bounce, n, &cmd);
		if (ret)
			break;
		total += cmd.faults;
		done += n;
	}
	free(bounce);
	if (!ret && faults)
		*faults = total;
	return ret;
}

/* HMM_DMIRROR_PROT_* (the driver's snapshot byte) -> VHMM_PAGE_* */
static uint8_t vhmm_page_state(uint8_t p)
{
	const uint8_t low = HMM_DMIRROR_PROT_READ | HMM_DMIRROR_PROT_WRITE |
			    HMM_DMIRROR_PROT_PMD | HMM_DMIRROR_PROT_PUD;
	uint8_t s = 0;

	if (p == HMM_DMIRROR_PROT_ERROR)
		return VHMM_PAGE_ERROR;
	if (p & HMM_DMIRROR_PROT_READ)
		s |= VHMM_PAGE_READ;
	if (p & HMM_DMIRROR_PROT_WRITE)
		s |= VHMM_PAGE_READ | VHMM_PAGE_WRITE;
	if (p & (HMM_DMIRROR_PROT_PMD | HMM_DMIRROR_PROT_PUD))
		s |= VHMM_PAGE_HUGE;
	switch (p & ~low) {
	case HMM_DMIRROR_PROT_ZERO:
		s |= VHMM_PAGE_ZERO;
		break;
	case HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL:
	case HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL:
		s |= VHMM_PAGE_DEVICE;
		break;
	case HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE:
	case HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE:
		s |= VHMM_PAGE_OTHER_DEVICE;
		break;
	}
	return s;
}

int vhmm_snapshot(struct vhmm_dev *dev, const void *addr, uint64_t npages,
		  uint8_t *prot)
{
	uint64_t i;
	int ret;

	if (!prot)
		return -EINVAL;
	ret = vhmm_dmirror(dev, HMM_DMIRROR_SNAPSHOT, addr, prot, npages,
			   NULL);
	if (ret)
		return ret;
	for (i = 0; i < npages; i++)
		prot[i] = vhmm_page_state(prot[i]);
	return 0;
}

int vhmm_migrate_to_device(struct vhmm_dev *dev, void *addr, uint64_t npages,
			   void *readback)
{
	void *buf = readback;
	int ret;

	ret = vhmm_check(dev);
	if (ret)
		return ret;
	if (!readback) {
		size_t bytes = vhmm_bytes(dev, npages);

		if (!bytes)
			return -EINVAL;
		buf = malloc(bytes);
		if (!buf)
			return -ENOMEM;
	}
	ret = vhmm_dmirror(dev, HMM_DMIRROR_MIGRATE_TO_DEV, addr, buf, npages,
			   NULL);
	if (!readback)
		free(buf);
	return ret;
}

int vhmm_migrate_to_system(struct vhmm_dev *dev, void *addr, uint64_t npages,
			   uint64_t *migrated)
{
	struct hmm_dmirror_cmd cmd;
	int ret;

	ret = vhmm_dmirror(dev, HMM_DMIRROR_MIGRATE_TO_SYS, addr, NULL, npages,
			   &cmd);
	if (!ret && migrated)
		*migrated = cmd.cpages;
	return ret;
}

static int vhmm_range_job(struct vhmm_dev *dev, unsigned long req,
			  void *addr, const void *src, uint64_t len,
			  uint64_t pattern, uint64_t *faults)
{
	struct virtio_hmm_range_job j = {
		.addr = (uintptr_t)addr,
		.src = (uintptr_t)src,
		.length = len,
		.pattern = pattern,
	};
	int ret = vhmm_ioctl(dev, req, &j);

	if (!ret && faults)
		*faults = j.faults;
	return ret;
}

int vhmm_fill(struct vhmm_dev *dev, void *addr, uint64_t len,
	      uint64_t pattern, uint64_t *faults)
{
	return vhmm_range_job(dev, VIRTIO_HMM_IOC_FILL, addr, NULL, len,
			      pattern, faults);
}

int vhmm_copy(struct vhmm_dev *dev, void *dst, const void *src, uint64_t len,
	      uint64_t *faults)
{
	if (!src)
		return -EINVAL;
	return vhmm_range_job(dev, VIRTIO_HMM_IOC_COPY, dst, src, len, 0,
			      faults);
}

int vhmm_atomic(struct vhmm_dev *dev, void *addr, enum vhmm_atomic_op op,
		unsigned int size, uint64_t operand, uint64_t compare,
		uint64_t *old)
{
	struct virtio_hmm_atomic a = {
		.addr = (uintptr_t)addr,
		.operand = operand,
		.compare = compare,
		.size = size,
	};
	int ret;

	switch (op) {
	case VHMM_ATOMIC_FETCH_ADD:
		a.op = VIRTIO_HMM_OP_FETCH_ADD;
		break;
	case VHMM_ATOMIC_XCHG:
		a.op = VIRTIO_HMM_OP_XCHG;
		break;
	case VHMM_ATOMIC_CMPXCHG:
		a.op = VIRTIO_HMM_OP_CMPXCHG;
		break;
	default:
		return -EINVAL;
	}
	ret = vhmm_ioctl(dev, VIRTIO_HMM_IOC_ATOMIC, &a);
	if (!ret && old)
		*old = a.old;
	return ret;
}

int vhmm_chase(struct vhmm_dev *dev, const void *head, uint32_t next_offset,
	       uint32_t value_offset, uint32_t value_size, uint32_t max_nodes,
	       struct vhmm_chase_result *res)
{
	struct virtio_hmm_chase c = {
		.addr = (uintptr_t)head,
		.next_offset = next_offset,
		.value_offset = value_offset,
		.value_size = value_size,
		.max_nodes = max_nodes,
	};
	int ret;

	if (!res)
		return -EINVAL;
	ret = vhmm_ioctl(dev, VIRTIO_HMM_IOC_CHASE, &c);
	if (ret)
		return ret;
	res->sum = c.sum;
	res->nodes = c.nodes;
	res->faults = c.faults;
	return 0;
}
