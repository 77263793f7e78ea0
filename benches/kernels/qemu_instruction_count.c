/* A QEMU TCG plugin that prints how many guest instructions a program ran ("instructions: N" at
 * exit; with -d plugin): benches/arm_instructions.sh's counter. An inline add per translated block
 * executed, not atomic: exact for one thread, approximate for several. QEMU 7.2's plugin interface
 * (plugin version 1), declared here by hand: Debian ships no qemu-plugin.h. */
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t, struct qemu_plugin_tb *));
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t, void *), void *userdata);
void qemu_plugin_outs(const char *string);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;
static uint64_t count;
static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  (void)id;
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &count, qemu_plugin_tb_n_insns(tb));
}
static void on_exit(qemu_plugin_id_t id, void *p) {
  (void)id; (void)p;
  char line[64];
  snprintf(line, sizeof line, "instructions: %llu\n", (unsigned long long)count);
  qemu_plugin_outs(line);
}
__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
  (void)info; (void)argc; (void)argv;
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
  qemu_plugin_register_atexit_cb(id, on_exit, NULL);
  return 0;
}
