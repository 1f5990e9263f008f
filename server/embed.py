#!/usr/bin/env python3
"""Turns a file into C: `const char NAME[]` (NUL-terminated) and
`const size_t NAME_len`, so that a page (admin.html, orders.html) ships
inside the binary.
Usage: embed.py INPUT OUTPUT NAME"""
import sys

src, dst, name = sys.argv[1:4]
data = open(src, "rb").read()


def byte(b):
    # An explicit cast: char may be signed, and bytes of UTF-8 are > 127.
    return "0x%02x," % b if b < 0x80 else "(char)0x%02x," % b


with open(dst, "w") as out:
    out.write("/* Generated from %s by server/embed.py: do not edit. */\n"
              % src.rsplit("/", 1)[-1])
    out.write("#include <stddef.h>\n\n")
    out.write("extern const char %s[];\nextern const size_t %s_len;\n\n"
              % (name, name))
    out.write("const char %s[] = {\n" % name)
    for i in range(0, len(data), 12):
        out.write("\t" + " ".join(byte(b) for b in data[i:i + 12]) + "\n")
    out.write("\t0x00\n};\n")
    out.write("const size_t %s_len = %d;\n" % (name, len(data)))
