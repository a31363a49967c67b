/*
 * QTest testcases for virtio-hmm: properties as QEMU's introspection shows
 * them
 *
 * "-device virtio-hmm-pci,help", device-list-properties, qom-get and
 * "info qtree" report the real types and defaults (enum properties for
 * mode and backend, vram-size 64 MiB, vectors 4); the debug injectors
 * carry the x- prefix; bad values fail at realize naming the property;
 * mode=coherent needs a transport that maps device memory.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#include "qemu/osdep.h"
#include "libqtest-single.h"
#include "qemu/module.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "qapi/qmp/qdict.h"
#include "qapi/qmp/qjson.h"
#include "qapi/qmp/qlist.h"
#include "qapi/qmp/qnum.h"
#include "qapi/qmp/qstring.h"
#include "virtio-hmm-lib.h"

#define HMM_PATH "/machine/peripheral/hmm0"

/* Run QEMU (the qtest binary) with @args; its exit status and output */
static int run_qemu(const char *args, char **out, char **err)
{
    const char *qemu = getenv("QTEST_QEMU_BINARY");
    g_autofree char *cmd = NULL;
    g_auto(GStrv) argv = NULL;
    int status;

    g_assert(qemu);
    /* timeout: a QEMU that starts instead of failing must not hang us */
    cmd = g_strdup_printf("timeout 60 %s %s", qemu, args);
    g_assert(g_shell_parse_argv(cmd, NULL, &argv, NULL));
    g_assert(g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                          out, err, &status, NULL));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The line of "-device virtio-hmm-pci,help" that describes @prop */
static char *help_line(const char *help, const char *prop)
{
    g_auto(GStrv) lines = g_strsplit(help, "\n", -1);
    g_autofree char *start = g_strdup_printf("%s=", prop);
    char **l;

    for (l = lines; *l; l++) {
        if (g_str_has_prefix(g_strstrip(*l), start)) {
            return g_strdup(*l);
        }
    }
    return NULL;
}

static void test_props_help(void *obj, void *data, QGuestAllocator *alloc)
{
    static const struct {
        const char *prop, *type, *def;
    } want[] = {
        { "vram-size", "<size>", "(default: 67108864)" },
        { "mode", "<VirtIOHMMMode>", "(default: \"private\")" },
        { "backend", "<VirtIOHMMBackend>", "(default: \"ram\")" },
        { "vectors", "<uint32>", "(default: 4)" },
        { "max-page-tables", "<uint32>", "(default: 16384)" },
        { "max-asids", "<uint32>", "(default: 64)" },
        { "x-inject-copy-fail", "<uint32>", "(default: 0)" },
        { "x-inject-vram-full", "<bool>", "(default: false)" },
        { "x-inject-map-fail", "<uint32>", "(default: 0)" },
        { "x-inject-job-delay-us", "<uint32>", "(default: 0)" },
        { "x-inject-job-delay-every", "<uint32>", "(default: 1)" },
    };
    g_autofree char *out = NULL, *err = NULL;
    size_t i;

    g_assert_cmpint(run_qemu("-device virtio-hmm-pci,help", &out, &err), ==,
                    0);
    for (i = 0; i < ARRAY_SIZE(want); i++) {
        g_autofree char *line = help_line(out, want[i].prop);

        g_test_message("%s: %s", want[i].prop, line);
        g_assert_nonnull(line);
        g_assert_nonnull(strstr(line, want[i].type));
        g_assert_nonnull(strstr(line, want[i].def));
    }
    /* the debug injectors are x- only */
    g_assert_null(help_line(out, "inject-copy-fail"));
    g_assert_null(help_line(out, "inject-vram-full"));
}

static void test_props_qom(void *obj, void *data, QGuestAllocator *alloc)
{
    const char *backend = qvirtio_hmm_backend() ? qvirtio_hmm_backend()
                                                : "ram";
    QObject *o;
    QDict *rsp;
    const char *qtree;

    g_assert_cmpuint(hmm_qom_get_uint(HMM_PATH, "vram-size"), ==, 64 * MiB);
    g_assert_cmpuint(hmm_qom_get_uint(HMM_PATH, "vectors"), ==, 4);
    g_assert_cmpuint(hmm_qom_get_uint(HMM_PATH, "max-page-tables"), ==,
                     16384);
    o = hmm_qom_get(HMM_PATH, "mode");
    g_assert_cmpstr(qstring_get_str(qobject_to(QString, o)), ==, "private");
    qobject_unref(o);
    o = hmm_qom_get(HMM_PATH, "backend");
    g_assert_cmpstr(qstring_get_str(qobject_to(QString, o)), ==, backend);
    qobject_unref(o);

    rsp = qtest_qmp(global_qtest, "{'execute': 'human-monitor-command', "
                    "'arguments': {'command-line': 'info qtree'}}");
    qtree = qdict_get_str(rsp, "return");
    g_assert_nonnull(strstr(qtree, "vram-size = 67108864 (64 MiB)"));
    g_assert_nonnull(strstr(qtree, "mode = \"private\""));
    g_assert_nonnull(strstr(qtree, backend));
    g_assert_nonnull(strstr(qtree, "vectors = 4"));
    qobject_unref(rsp);
}

/* device_add with @props fails, and the error contains @what */
static void assert_add_fails(const char *props, const char *what)
{
    g_autofree char *json = g_strdup_printf("{'driver': 'virtio-hmm-pci', "
                                            "'id': 'bad', %s}", props);
    QObject *args = qobject_from_json(json, &error_abort);
    QDict *rsp = qtest_qmp(global_qtest, "{'execute': 'device_add', "
                           "'arguments': %p}", args);
    const char *desc;

    g_assert(qdict_haskey(rsp, "error"));
    desc = qdict_get_str(qdict_get_qdict(rsp, "error"), "desc");
    g_test_message("%s: %s", props, desc);
    g_assert_nonnull(strstr(desc, what));
    qobject_unref(rsp);
}

static void test_props_errors(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;

    assert_add_fails("'vram-size': 0", "'vram-size'");
    assert_add_fails("'vram-size': 4097", "'vram-size'");
    /* more than any host can map */
    assert_add_fails("'vram-size': 4611686018427387904", "'vram-size");
    assert_add_fails("'mode': 'bogus'", "mode");
    assert_add_fails("'backend': 'bogus'", "backend");
    assert_add_fails("'max-page-tables': 1", "'max-page-tables'");
    assert_add_fails("'x-inject-copy-delay-us': 2000000",
                     "'x-inject-copy-delay-us'");
    assert_add_fails("'x-inject-job-delay-us': 30000001",
                     "'x-inject-job-delay-us'");
    qtest_qmp_assert_success(global_qtest, "{'execute': 'object-add', "
                             "'arguments': {'qom-type': "
                             "'memory-backend-ram', 'id': 'hmm-mem', "
                             "'size': 8388608}}");
    assert_add_fails("'memdev': 'hmm-mem', 'vram-size': 8388608",
                     "'vram-size' and 'memdev' are mutually exclusive");
    if (access("/dev/vhmm_host", F_OK)) {
        /* a failure after device memory was set up, then one that works */
        assert_add_fails("'backend': 'host'", "vhmm_host");
        qtest_qmp_device_add(global_qtest, "virtio-hmm-pci", "hmm1",
                             "{'addr': %s}", stringify(PCI_SLOT_HP));
    }
    /* the device that is running is not affected */
    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
}

/* With memdev=, vram-size reports memdev's size */
static void test_props_memdev_size(void *obj, void *data,
                                   QGuestAllocator *alloc)
{
    g_assert_cmpuint(hmm_qom_get_uint(HMM_PATH, "vram-size"), ==, 8 * MiB);
}

/* mode=coherent on a transport that does not map device memory */
static void test_props_coherent_mmio(void *obj, void *data,
                                     QGuestAllocator *alloc)
{
    g_autofree char *out = NULL, *err = NULL;
    g_autofree char *args = g_strdup_printf("-M microvm -nodefaults "
                                            "-display none -bios %s "
                                            "-device virtio-hmm-device,"
                                            "mode=coherent", hmm_make_bios());

    g_assert_cmpint(run_qemu(args, &out, &err), ==, 1);
    g_test_message("%s", err);
    g_assert_nonnull(strstr(err, "'mode=coherent' needs a transport"));
}

static void register_virtio_hmm_props_test(void)
{
    QOSGraphTestOptions opts = { };

    qos_add_test("props/help", "virtio-hmm-model", test_props_help, NULL);
    qos_add_test("props/errors", "virtio-hmm-model", test_props_errors, NULL);
    qos_add_test("props/coherent-mmio", "virtio-hmm-model",
                 test_props_coherent_mmio, NULL);
    opts.edge.extra_device_opts = "id=hmm0";
    qos_add_test("props/qom", "virtio-hmm-model", test_props_qom, &opts);
    if (!qvirtio_hmm_backend() || !strcmp(qvirtio_hmm_backend(), "ram")) {
        opts.edge.extra_device_opts = "id=hmm0,memdev=hmm-mem "
            "-object memory-backend-ram,id=hmm-mem,size=8M";
        qos_add_test("props/memdev-size", "virtio-hmm-model",
                     test_props_memdev_size, &opts);
    }
}

libqos_init(register_virtio_hmm_props_test);
