"""Which of a GGUF's weights a process keeps mapped, over time: runs COMMAND, and every 0.2 s
prints its RSS and the pages of the model file it has mapped (from /proc/PID/pagemap: present
pages, not the page cache), in MB by the tensors' first name part (t5, dec, proj, codec); then
the sample with the most of the file mapped. Linux, as root (pagemap's flags need no more).

    .venv/bin/python benches/mapped_weights.py target/bench-musicgen/musicgen-small-random-q4_k_m.gguf -- \\
        env LOFI_BENCH_SECONDS=30 LOFI_BENCH_MODEL=... target/release/deps/musicgen-HASH --bench

What found the strips' originals mapped back during a streamed run (README "Memory").
"""

import bisect
import collections
import os
import re
import struct
import subprocess
import sys
import time

import gguf

PAGE = 4096


def tensor_spans(path):
    reader = gguf.GGUFReader(path)
    return sorted((int(t.data_offset), int(t.data_offset) + int(t.n_bytes), t.name.split(".")[0]) for t in reader.tensors)


def mapped_by_part(pid, path, spans):
    """MB of `path` that process `pid` has present in its page tables, by tensor name part."""
    parts = collections.Counter()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for line in maps:
            fields = line.split()
            if len(fields) < 6 or os.path.realpath(fields[5]) != path:
                continue
            start, end = (int(a, 16) for a in fields[0].split("-"))
            offset = int(fields[2], 16)
            pagemap.seek(start // PAGE * 8)
            entries = pagemap.read((end - start) // PAGE * 8)
            for i in range(len(entries) // 8):
                if struct.unpack_from("<Q", entries, i * 8)[0] >> 63:
                    at = offset + i * PAGE
                    j = bisect.bisect_right(spans, (at, 1 << 62, "")) - 1
                    parts[spans[j][2] if j >= 0 and at < spans[j][1] else "(header)"] += PAGE / 1e6
    return parts


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit(__doc__)
    path = os.path.realpath(sys.argv[1])
    spans = tensor_spans(path)
    process = subprocess.Popen(sys.argv[3:], stdout=subprocess.DEVNULL)
    started, most = time.time(), (0.0, "")
    while process.poll() is None:
        try:
            with open(f"/proc/{process.pid}/status") as status:
                rss = int(re.search(r"VmRSS:\s+(\d+)", status.read()).group(1)) / 1e3
            parts = mapped_by_part(process.pid, path, spans)
        except (OSError, AttributeError):
            break  # it ended while read
        line = f"{time.time() - started:6.1f} s  RSS {rss:6.0f} MB  mapped " + " ".join(
            f"{name} {mb:.1f}" for name, mb in sorted(parts.items())
        )
        print(line, flush=True)
        if sum(parts.values()) > most[0]:
            most = (sum(parts.values()), line)
        time.sleep(0.2)
    print(f"most of the file mapped: {most[0]:.1f} MB at\n{most[1]}")


if __name__ == "__main__":
    main()
