#!/usr/bin/python3
"""Writes src/kernels/cpu/iq_grids.cpp: the codebooks of GGML's IQ1/IQ2/IQ3 types, read from ggml-common.h.

  tools/gen_iq_grids.py PATH/TO/ggml-common.h > src/kernels/cpu/iq_grids.cpp

These grids are part of the file format -- a block stores indices into them -- so they are not ours to
choose: they are taken verbatim from ggml (MIT licence, the ggml authors). The committed copy was made from
the ggml-common.h of the npm package llama.rn@0.12.9 (a vendored llama.cpp); any llama.cpp release since
2024 has the same tables. Each table is checked here against the structure the format gives it (byte
values from a small level set, the size), and ksigns_iq2xs is recomputed from its definition.
"""
import re
import sys

# name in ggml -> (our name, C type, entries, bytes per entry, allowed byte values)
TABLES = {
    "iq2xxs_grid": ("kIQ2XXSGrid", "uint64_t", 256, 8, {0x08, 0x19, 0x2b}),
    "iq2xs_grid": ("kIQ2XSGrid", "uint64_t", 512, 8, {0x08, 0x19, 0x2b}),
    "iq2s_grid": ("kIQ2SGrid", "uint64_t", 1024, 8, {0x08, 0x19, 0x2b}),
    "iq3xxs_grid": ("kIQ3XXSGrid", "uint32_t", 256, 4, {4, 12, 20, 28, 36, 44, 52, 62}),
    "iq3s_grid": ("kIQ3SGrid", "uint32_t", 512, 4, {1, 3, 5, 7, 9, 11, 13, 15}),
    "iq1s_grid": ("kIQ1SGrid", "uint64_t", 2048, 8, {0x00, 0x01, 0xff}),
}


def table(src, name):
    m = re.search(r"GGML_TABLE_BEGIN\(\w+, " + name + r", \w+\)(.*?)GGML_TABLE_END", src, re.S)
    if not m:
        sys.exit(f"gen_iq_grids: table {name} not found")
    return [int(v, 0) for v in re.findall(r"0x[0-9a-fA-F]+|\d+", m.group(1))]


def main():
    src = open(sys.argv[1]).read()
    ksigns = table(src, "ksigns_iq2xs")
    # Seven sign bits are stored; the eighth makes the number of minus signs even.
    if ksigns != [i | (bin(i).count("1") % 2) << 7 for i in range(128)]:
        sys.exit("gen_iq_grids: ksigns_iq2xs is not the even-parity completion of 7 bits")
    out = ["// The codebooks of GGML's IQ1_S/IQ1_M, IQ2_XXS/XS/S and IQ3_XXS/S types: part of the file format",
           "// (blocks store indices into them), copied verbatim from ggml's ggml-common.h (MIT licence,",
           "// Copyright (c) 2023-2024 The ggml authors) by tools/gen_iq_grids.py. Do not edit by hand.",
           "// Entry k holds its values in bytes, lowest byte first.",
           '#include "kernels/cpu/iq_grids.h"', "", "namespace r1::quant {", ""]
    for gname, (ours, ctype, entries, nbytes, levels) in TABLES.items():
        values = table(src, gname)
        if len(values) != entries:
            sys.exit(f"gen_iq_grids: {gname} has {len(values)} entries, expected {entries}")
        for v in values:
            got = {(v >> (8 * i)) & 0xff for i in range(nbytes)}
            if not got <= levels or v >> (8 * nbytes):
                sys.exit(f"gen_iq_grids: {gname} entry {v:#x} has bytes outside {sorted(levels)}")
        if len(set(values)) != entries:
            sys.exit(f"gen_iq_grids: {gname} has repeated entries")
        width = 2 * nbytes
        per_line = 4 if nbytes == 8 else 8
        out.append(f"const {ctype} {ours}[{entries}] = {{")
        for i in range(0, entries, per_line):
            out.append("    " + " ".join(f"0x{v:0{width}x}," for v in values[i:i + per_line]))
        out.append("};")
        out.append("")
    out.append("}  // namespace r1::quant")
    print("\n".join(out))


if __name__ == "__main__":
    main()
