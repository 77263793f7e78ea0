/* A QEMU TCG plugin that prints how many guest instructions a program ran ("instructions: N" at
 * exit; with -d plugin): benches/arm_instructions.sh's counter. With the argument `symbols=on`,
 * also the functions that ran the most of them ("  12.3 % function": the executable's own symbols,
 * by the symbol of each translated block's first instruction; inlined code counts as its
 * caller). An inline add per translated block executed, not atomic: exact for one thread,
 * approximate for several. QEMU 7.2's plugin interface (plugin version 1), declared here by hand:
 * Debian ships no qemu-plugin.h. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t, struct qemu_plugin_tb *));
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const char *qemu_plugin_insn_symbol(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t, void *), void *userdata);
void qemu_plugin_outs(const char *string);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

enum { kMaxSymbols = 8192, kShown = 25 };
struct counter {
  const char *symbol;
  uint64_t count;
};
static struct counter total = {"(all)", 0}, counters[kMaxSymbols], other = {"(others)", 0};
static int symbols_on, used;

/* The counter of a block's symbol (the same name, however often translated). */
static struct counter *counter_of(const char *symbol) {
  if (symbol == NULL) {
    symbol = "(no symbol)";
  }
  for (int i = 0; i < used; i++) {
    if (strcmp(counters[i].symbol, symbol) == 0) {
      return &counters[i];
    }
  }
  if (used == kMaxSymbols) {
    return &other;
  }
  counters[used].symbol = strdup(symbol);
  return &counters[used++];
}

static void on_translation(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  (void)id;
  const size_t n = qemu_plugin_tb_n_insns(tb);
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &total.count, n);
  if (symbols_on && n > 0) {
    struct counter *c = counter_of(qemu_plugin_insn_symbol(qemu_plugin_tb_get_insn(tb, 0)));
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &c->count, n);
  }
}

static int by_count(const void *a, const void *b) {
  const uint64_t x = ((const struct counter *)a)->count, y = ((const struct counter *)b)->count;
  return x < y ? 1 : x > y ? -1 : 0;
}

static void on_program_exit(qemu_plugin_id_t id, void *userdata) {
  (void)id;
  (void)userdata;
  char line[512];
  snprintf(line, sizeof line, "instructions: %llu\n", (unsigned long long)total.count);
  qemu_plugin_outs(line);
  if (!symbols_on || total.count == 0) {
    return;
  }
  qsort(counters, used, sizeof counters[0], by_count);
  for (int i = 0; i < used && i < kShown; i++) {
    snprintf(line, sizeof line, "  %5.1f %% %s\n", 100.0 * (double)counters[i].count / (double)total.count, counters[i].symbol);
    qemu_plugin_outs(line);
  }
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
  (void)info;
  for (int i = 0; i < argc; i++) {
    symbols_on |= strcmp(argv[i], "symbols=on") == 0;
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translation);
  qemu_plugin_register_atexit_cb(id, on_program_exit, NULL);
  return 0;
}
