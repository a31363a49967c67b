// SPDX-License-Identifier: GPL-2.0
/*
 * vhmm_host: the host half of virtio-hmm.
 *
 * On a real host an accelerator's memory is device memory that the kernel
 * manages with HMM, and the device reaches the guest's RAM without pinning
 * it. This module gives a virtio-hmm device in QEMU (backend=host) exactly
 * that: its device memory becomes host MEMORY_DEVICE_PRIVATE pages
 * (devmem.c), and its copy and execution engines reach guest RAM through
 * hmm_range_fault() under an MMU interval notifier on QEMU's mm
 * (mirror.c), never through get_user_pages().
 *
 * Theory of operation of this file: a misc device, /dev/vhmm_host. Each
 * open file mirrors the opener's mm and may register one region of it as
 * device memory (include/linux/vhmm_host.h is the uapi). Releasing the
 * file (close, exit, kill -9) undoes everything: the region's device pages
 * go back to system RAM while the process lives, or are freed with its
 * address space when it exits. Module-wide counters are in debugfs,
 * vhmm_host/stats.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include "vhmm_host.h"

struct vhmm_host_counters vhmm_host_counters;

static struct dentry *vhmm_host_debugfs;

/**
 * vhmm_host_get_stats() - snapshot the module-wide counters
 * @stats: filled in
 *
 * Context: any.
 */
void vhmm_host_get_stats(struct vhmm_host_stats *stats)
{
	struct vhmm_host_counters *c = &vhmm_host_counters;

	memset(stats, 0, sizeof(*stats));
	stats->pages_freed = atomic64_read(&c->pages_freed);
	stats->pages_allocated = atomic64_read(&c->pages_allocated);
	stats->device_pages = stats->pages_allocated - stats->pages_freed;
	stats->migrated_to_device = atomic64_read(&c->migrated_to_device);
	stats->migrated_to_ram = atomic64_read(&c->migrated_to_ram);
	stats->cpu_faults = atomic64_read(&c->cpu_faults);
	stats->invalidations = atomic64_read(&c->invalidations);
	stats->range_faults = atomic64_read(&c->range_faults);
	stats->copies = atomic64_read(&c->copies);
	stats->open_files = atomic64_read(&c->open_files);
	stats->leaked_pages = stats->open_files ? 0 : stats->device_pages;
	stats->device_pages_max = vhmm_host_devmem_max_pages();
}

static int vhmm_host_stats_show(struct seq_file *m, void *unused)
{
	struct vhmm_host_stats s;

	vhmm_host_get_stats(&s);
	seq_printf(m, "device_pages %llu\n", s.device_pages);
	seq_printf(m, "pages_allocated %llu\n", s.pages_allocated);
	seq_printf(m, "pages_freed %llu\n", s.pages_freed);
	seq_printf(m, "migrated_to_device %llu\n", s.migrated_to_device);
	seq_printf(m, "migrated_to_ram %llu\n", s.migrated_to_ram);
	seq_printf(m, "cpu_faults %llu\n", s.cpu_faults);
	seq_printf(m, "invalidations %llu\n", s.invalidations);
	seq_printf(m, "range_faults %llu\n", s.range_faults);
	seq_printf(m, "copies %llu\n", s.copies);
	seq_printf(m, "open_files %llu\n", s.open_files);
	seq_printf(m, "leaked_pages %llu\n", s.leaked_pages);
	seq_printf(m, "device_pages_max %llu\n", s.device_pages_max);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vhmm_host_stats);

static int vhmm_host_open(struct inode *inode, struct file *filp)
{
	struct vhmm_host_file *vf;
	int ret;

	/*
	 * The file mirrors the opener's address space: a kernel thread has
	 * none (or only one it borrowed).
	 */
	if (!current->mm || (current->flags & PF_KTHREAD))
		return -EINVAL;
	vf = kzalloc(sizeof(*vf), GFP_KERNEL);
	if (!vf)
		return -ENOMEM;
	mutex_init(&vf->ioctl_lock);
	ret = vhmm_host_mirror_init(vf);
	if (ret) {
		mutex_destroy(&vf->ioctl_lock);
		kfree(vf);
		return ret;
	}
	filp->private_data = vf;
	atomic64_inc(&vhmm_host_counters.open_files);
	return 0;
}

static int vhmm_host_release(struct inode *inode, struct file *filp)
{
	struct vhmm_host_file *vf = filp->private_data;

	/* -ESRCH: the process is gone and its pages with it */
	if (vf->end)
		vhmm_host_migrate_to_ram(vf->notifier.mm, vf->start, vf->end);
	vhmm_host_mirror_fini(vf);
	mutex_destroy(&vf->ioctl_lock);
	kfree(vf);
	atomic64_dec(&vhmm_host_counters.open_files);
	return 0;
}

/* Check a user range: page aligned, non-empty, no wrap */
static bool vhmm_host_range_ok(const struct vhmm_host_region *r)
{
	return r->size && PAGE_ALIGNED(r->addr) && PAGE_ALIGNED(r->size) &&
	       r->addr + r->size > r->addr && r->addr + r->size <= TASK_SIZE;
}

static long vhmm_host_register(struct vhmm_host_file *vf,
			       struct vhmm_host_region __user *uarg)
{
	struct mm_struct *mm = vf->notifier.mm;
	struct vhmm_host_stats stats;
	struct vhmm_host_region r;
	long n;

	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	if (!vhmm_host_range_ok(&r))
		return -EINVAL;
	if (vf->end)
		return -EBUSY;
	/* More than the pool can ever hold, or has free now */
	vhmm_host_get_stats(&stats);
	if (stats.device_pages > stats.device_pages_max ||
	    r.size >> PAGE_SHIFT > stats.device_pages_max - stats.device_pages)
		return -ENOSPC;
	n = vhmm_host_migrate_to_device(mm, r.addr, r.addr + r.size, true);
	if (n < 0) {
		/* Undo what moved */
		vhmm_host_migrate_to_ram(mm, r.addr, r.addr + r.size);
		return n;
	}
	vf->start = r.addr;
	vf->end = r.addr + r.size;
	return put_user(n, &uarg->npages);
}

static long vhmm_host_migrate_ioctl(struct vhmm_host_file *vf,
				    struct vhmm_host_region __user *uarg)
{
	struct vhmm_host_region r;
	long n;

	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	if (!vhmm_host_range_ok(&r) || r.addr < vf->start ||
	    r.addr + r.size > vf->end)
		return -EINVAL;
	n = vhmm_host_migrate_to_device(vf->notifier.mm, r.addr,
					r.addr + r.size, false);
	if (n < 0)
		return n;
	return put_user(n, &uarg->npages);
}

static long vhmm_host_copy_ioctl(struct vhmm_host_file *vf,
				 struct vhmm_host_copy __user *uarg)
{
	struct vhmm_host_copy_entry *ent;
	struct vhmm_host_copy c;
	long ret = 0;
	u32 i;

	if (copy_from_user(&c, uarg, sizeof(c)))
		return -EFAULT;
	if (!c.nr || c.nr > VHMM_HOST_COPY_MAX)
		return -EINVAL;
	ent = memdup_user(u64_to_user_ptr(c.entries),
			  array_size(c.nr, sizeof(*ent)));
	if (IS_ERR(ent))
		return PTR_ERR(ent);
	for (i = 0; i < c.nr; i++) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		ret = vhmm_host_copy(vf, &ent[i]);
		if (ret)
			break;
	}
	kfree(ent);
	if (put_user(i, &uarg->done))
		return -EFAULT;
	return ret;
}

static long vhmm_host_ioctl(struct file *filp, unsigned int cmd,
			    unsigned long arg)
{
	struct vhmm_host_file *vf = filp->private_data;
	void __user *uarg = (void __user *)arg;
	struct vhmm_host_stats stats;
	long ret;

	if (cmd == VHMM_HOST_IOC_STATS) {
		vhmm_host_get_stats(&stats);
		return copy_to_user(uarg, &stats, sizeof(stats)) ? -EFAULT : 0;
	}
	/* Addresses are the opener's: the file is bound to its mm */
	if (current->mm != vf->notifier.mm)
		return -EINVAL;
	if (mutex_lock_killable(&vf->ioctl_lock))
		return -EINTR;
	switch (cmd) {
	case VHMM_HOST_IOC_REGISTER:
		ret = vhmm_host_register(vf, uarg);
		break;
	case VHMM_HOST_IOC_MIGRATE:
		ret = vhmm_host_migrate_ioctl(vf, uarg);
		break;
	case VHMM_HOST_IOC_COPY:
		ret = vhmm_host_copy_ioctl(vf, uarg);
		break;
	default:
		ret = -ENOTTY;
		break;
	}
	mutex_unlock(&vf->ioctl_lock);
	return ret;
}

static const struct file_operations vhmm_host_fops = {
	.owner		= THIS_MODULE,
	.open		= vhmm_host_open,
	.release	= vhmm_host_release,
	.unlocked_ioctl	= vhmm_host_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice vhmm_host_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "vhmm_host",
	.fops	= &vhmm_host_fops,
};

static int __init vhmm_host_init(void)
{
	int ret;

	ret = vhmm_host_devmem_init();
	if (ret)
		return ret;
	ret = misc_register(&vhmm_host_misc);
	if (ret)
		goto err_devmem;
	vhmm_host_debugfs = debugfs_create_dir("vhmm_host", NULL);
	debugfs_create_file("stats", 0444, vhmm_host_debugfs, NULL,
			    &vhmm_host_stats_fops);
	return 0;

err_devmem:
	vhmm_host_devmem_exit();
	return ret;
}

static void __exit vhmm_host_exit(void)
{
	struct vhmm_host_stats s;

	debugfs_remove_recursive(vhmm_host_debugfs);
	misc_deregister(&vhmm_host_misc);
	vhmm_host_get_stats(&s);
	pr_info("unloading: %llu device pages allocated, %llu freed, %llu leaked\n",
		s.pages_allocated, s.pages_freed, s.device_pages);
	vhmm_host_devmem_exit();
}

module_init(vhmm_host_init);
module_exit(vhmm_host_exit);
MODULE_DESCRIPTION("virtio-hmm host backend: device memory and guest RAM through HMM");
MODULE_LICENSE("GPL");
