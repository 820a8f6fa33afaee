#!/usr/bin/env python3
"""abi_prefix.py — an ABI description cut back to an older baseline's extent.

    abi_prefix.py OLD.abi NEW.abi SUPPR OUT.abi

check_abi.sh runs this before comparing NEW (the SDK as built now) with OLD
(the baseline of an older minor of the same major). OUT is NEW with the
growth an ABI minor may add taken away again:

  - each struct named by a [suppress_type] section of SUPPR that has
    has_data_member_inserted_at = end (its name or name_regexp) loses the
    members that start at or after OLD's size for it, and gets OLD's size
    back;
  - each enum that OLD has loses the enumerators OLD does not name.

If NEW only grew, OUT then describes exactly what OLD does, and abidiff of
OLD against OUT finds nothing. A member inserted in the middle, moved,
retyped, renamed or removed, a new member inside OLD's tail padding, or a
renumbered enumerator still shows. What was cut is printed, one line each,
so the check can say what grew.
"""
import re
import sys
import xml.etree.ElementTree as ET


def growable_patterns(suppr_path):
    """Regexps of the struct names SUPPR lets grow at their end."""
    patterns = []
    section, props = None, {}

    def flush():
        if section == "suppress_type" and props.get("has_data_member_inserted_at") == "end":
            if "name_regexp" in props:
                patterns.append(re.compile(props["name_regexp"]))
            if "name" in props:
                patterns.append(re.compile("^" + re.escape(props["name"]) + "$"))

    with open(suppr_path, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            m = re.fullmatch(r"\[([A-Za-z_]+)\]", line)
            if m:
                flush()
                section, props = m.group(1), {}
                continue
            key, sep, value = line.partition("=")
            if sep:
                props[key.strip()] = value.strip()
    flush()
    if not patterns:
        sys.exit(f"abi_prefix.py: {suppr_path} names no struct with has_data_member_inserted_at = end")
    return patterns


def sized_structs(root):
    """name -> size in bits of each defined (not declaration-only) struct."""
    return {
        c.get("name"): int(c.get("size-in-bits"))
        for c in root.iter("class-decl")
        if c.get("size-in-bits") is not None and c.get("name")
    }


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: abi_prefix.py OLD.abi NEW.abi SUPPR OUT.abi")
    old_path, new_path, suppr_path, out_path = sys.argv[1:]
    patterns = growable_patterns(suppr_path)
    old_root = ET.parse(old_path).getroot()
    old_sizes = sized_structs(old_root)
    old_enums = {
        e.get("name"): {n.get("name") for n in e.findall("enumerator")}
        for e in old_root.iter("enum-decl")
    }

    tree = ET.parse(new_path)
    for c in tree.getroot().iter("class-decl"):
        name, size = c.get("name"), c.get("size-in-bits")
        if size is None or name not in old_sizes:
            continue
        if not any(p.search(name) for p in patterns):
            continue
        old_size = old_sizes[name]
        if int(size) <= old_size:
            continue  # not grown (a shrink is left for abidiff to report)
        for m in c.findall("data-member"):
            if int(m.get("layout-offset-in-bits", "0")) >= old_size:
                var = m.find("var-decl")
                print(f"appended: {name}.{var.get('name') if var is not None else '?'}")
                c.remove(m)
        c.set("size-in-bits", str(old_size))

    for e in tree.getroot().iter("enum-decl"):
        known = old_enums.get(e.get("name"))
        if known is None:
            continue
        for n in e.findall("enumerator"):
            if n.get("name") not in known:
                print(f"new enumerator: {e.get('name')}::{n.get('name')} = {n.get('value')}")
                e.remove(n)

    tree.write(out_path, encoding="unicode")


if __name__ == "__main__":
    main()
