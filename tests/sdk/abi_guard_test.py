#!/usr/bin/env python3
"""abi_guard_test.py — the ABI guard, tested by breaking the ABI on purpose.

    abi_guard_test.py CC REPO_ROOT MAJOR.MINOR

Each case copies sdk/include, sdk/abi and tests/sdk/abi_probe.c into a
scratch folder, edits the copy (a member appended, two swapped, one
retyped...), builds the probe the way tests/sdk/CMakeLists.txt does, and
runs check_abi.sh as a contributor would after bumping the minor: the
abi-baseline step for MAJOR.(MINOR+1), which compares the edited headers
with every committed baseline (all older minors now) and refuses to write
the new one when anything but growth happened. Growth must be accepted, and
every break refused with the older baseline it breaks named. Then the
unedited headers must pass `check` for MAJOR.MINOR, and an appended member
must fail it (the current baseline allows no change).

Members are found by name in the struct's text, so the edits keep working
as the headers grow: the 1.0 members they touch can never change.
KEEP_TMP=1 keeps the scratch folder.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

if len(sys.argv) != 4:
    sys.exit("usage: abi_guard_test.py CC REPO_ROOT MAJOR.MINOR")
CC, ROOT, VERSION = sys.argv[1:]
MAJOR, MINOR = (int(x) for x in VERSION.split("."))
NEXT = f"{MAJOR}.{MINOR + 1}"
CHECK = os.path.join(ROOT, "tests/sdk/check_abi.sh")
HEADERS = ("abi.h", "module.h", "host.h")
# As tests/sdk/CMakeLists.txt builds iridium_abi_probe; the soname is part of
# the description.
PROBE_FLAGS = ["-std=gnu11", "-fPIC", "-shared", "-g", "-O0",
               "-Wl,-soname,libiridium_abi_probe.so"]

failures = []


# ---- editing a struct in a header, by member name ----

def find_struct(text, name):
    """(start, end) of the member text of `typedef struct NAME { ... } NAME;`."""
    m = re.search(r"typedef struct %s \{(.*?)\n\} %s;" % (name, name), text, re.S)
    if not m:
        raise SystemExit(f"abi_guard_test: no struct {name} in the headers")
    return m.start(1), m.end(1)


def member_name(decl):
    m = re.search(r"\(\s*\*\s*(\w+)\s*\)", decl)  # a function pointer
    if m:
        return m.group(1)
    return re.findall(r"(\w+)\s*(?:\[[^\]]*\])?\s*$", decl)[0]


def edit_struct(d, struct, change):
    """Rewrites STRUCT's members (comments dropped) through change(list of
    declarations without ';'), in whichever of scratch folder d's headers
    defines it."""
    for h in HEADERS:
        path = os.path.join(d, "include", "iridium", h)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if f"typedef struct {struct} {{" not in text:
            continue
        start, end = find_struct(text, struct)
        body = re.sub(r"/\*.*?\*/", "", text[start:end], flags=re.S)
        decls = [" ".join(d.split()) for d in body.split(";") if d.strip()]
        decls = change(decls)
        text = text[:start] + "\n" + "".join(f"  {d};\n" for d in decls) + text[end:]
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return
    raise SystemExit(f"abi_guard_test: no header defines struct {struct}")


def index_of(decls, name):
    for i, d in enumerate(decls):
        if member_name(d) == name:
            return i
    raise SystemExit(f"abi_guard_test: no member {name} in {decls}")


def append(struct, decl):
    return lambda d: edit_struct(d, struct, lambda ds: ds + [decl])


def swap(struct, a, b):
    def change(ds):
        i, j = index_of(ds, a), index_of(ds, b)
        ds[i], ds[j] = ds[j], ds[i]
        return ds
    return lambda d: edit_struct(d, struct, change)


def replace(struct, name, decl):
    def change(ds):
        ds[index_of(ds, name)] = decl
        return ds
    return lambda d: edit_struct(d, struct, change)


def insert_before(struct, name, decl):
    def change(ds):
        ds.insert(index_of(ds, name), decl)
        return ds
    return lambda d: edit_struct(d, struct, change)


def remove(struct, name=None):
    """Removes member NAME, or the last member."""
    def change(ds):
        del ds[index_of(ds, name) if name else -1]
        return ds
    return lambda d: edit_struct(d, struct, change)


def sub_in_header(header, pattern, repl):
    def edit(d):
        path = os.path.join(d, "include", "iridium", header)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        new, n = re.subn(pattern, repl, text, count=1)
        if n != 1:
            raise SystemExit(f"abi_guard_test: /{pattern}/ not in {header}")
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)
    return edit


# ---- building and checking ----

def scratch(tmp, label, wrappers=True):
    """A scratch copy. Without wrappers, the probe includes the three headers
    that define the ABI instead of iridium.h, whose inline wrappers name
    every ir_host_api entry and stop compiling when one goes."""
    d = os.path.join(tmp, label)
    shutil.copytree(os.path.join(ROOT, "sdk/include"), os.path.join(d, "include"))
    shutil.copytree(os.path.join(ROOT, "sdk/abi"), os.path.join(d, "abi"))
    with open(os.path.join(ROOT, "tests/sdk/abi_probe.c"), encoding="utf-8") as f:
        probe = f.read()
    if not wrappers:
        probe, n = re.subn(r"#include <iridium/iridium.h>\n",
                           "".join(f"#include <iridium/{h}>\n" for h in HEADERS), probe)
        if n != 1:
            raise SystemExit("abi_guard_test: abi_probe.c no longer includes <iridium/iridium.h>")
    with open(os.path.join(d, "abi_probe.c"), "w", encoding="utf-8") as f:
        f.write(probe)
    return d


def build_probe(d):
    out = os.path.join(d, "libiridium_abi_probe.so")
    subprocess.run([CC, *PROBE_FLAGS, "-I", os.path.join(d, "include"), "-o", out,
                    os.path.join(d, "abi_probe.c")], check=True)
    return out


def check_abi(mode, d, version):
    p = subprocess.run(["bash", CHECK, mode, os.path.join(d, "libiridium_abi_probe.so"),
                        os.path.join(d, "abi"), version],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode, p.stdout


def layout(d, expr):
    """A number from the compiler, e.g. sizeof(ir_module_desc), for headers in d."""
    src = os.path.join(d, "layout.c")
    exe = os.path.join(d, "layout")
    with open(src, "w", encoding="utf-8") as f:
        f.write("#include <stdio.h>\n#include <stddef.h>\n#include <iridium/iridium.h>\n"
                f"int main(void) {{ printf(\"%zu\\n\", (size_t)({expr})); return 0; }}\n")
    subprocess.run([CC, "-std=gnu11", "-I", os.path.join(d, "include"), "-o", exe, src],
                   check=True)
    return int(subprocess.run([exe], stdout=subprocess.PIPE, text=True, check=True).stdout)


def expect(label, ok, out, why):
    print(f"{'ok  ' if ok else 'FAIL'} {label}: {why}")
    if not ok:
        failures.append(label)
        print("  " + out.replace("\n", "\n  "))


def case(tmp, label, edit, accept, names=(), wrappers=True):
    """Edits a scratch SDK, then runs the abi-baseline step for NEXT."""
    d = scratch(tmp, label, wrappers)
    edit(d)
    build_probe(d)
    rc, out = check_abi("baseline", d, NEXT)
    wrote = os.path.exists(os.path.join(d, "abi", f"iridium-sdk-{NEXT}.abi"))
    if accept:
        ok = rc == 0 and wrote and all(n in out for n in names)
        if ok:  # and the new baseline then passes the check
            rc2, out2 = check_abi("check", d, NEXT)
            ok, out = rc2 == 0, out + out2
        expect(label, ok, out, f"accepted as growth for {NEXT}")
    else:
        ok = rc == 1 and not wrote and all(n in out for n in names)
        expect(label, ok, out, "refused: " + ", ".join(names))


def main():
    tmp = tempfile.mkdtemp(prefix="iridium-abiguard.")
    try:
        run(tmp)
    finally:
        if os.environ.get("KEEP_TMP") == "1":
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("FAILED:", ", ".join(failures))
        sys.exit(1)
    print("OK: the ABI guard accepts growth and refuses every break tried")


def run(tmp):
    older = [f for f in os.listdir(os.path.join(ROOT, "sdk/abi")) if f.endswith(".abi")]
    first = f"iridium-sdk-{MAJOR}.0.abi"
    if first not in older:
        # A fresh major has no 1.0-era members to break yet.
        print(f"skip: no {first}; the breaks below edit {MAJOR}.0 members")
        sys.exit(77)
    v0 = f"INCOMPATIBLE with ABI {MAJOR}.0"

    # The controls: today's headers pass the check and re-baseline to the
    # same file.
    d = scratch(tmp, "unchanged")
    build_probe(d)
    rc, out = check_abi("check", d, VERSION)
    expect("unchanged/check", rc == 0, out, f"passes check for {VERSION}")
    rc, out = check_abi("baseline", d, VERSION)
    expect("unchanged/baseline", rc == 0 and "unchanged:" in out, out,
           "abi-baseline leaves the current baseline as it is")

    # The probe without iridium.h's wrappers (for the ir_host_api removals
    # below) describes the same ABI.
    d = scratch(tmp, "unchanged-no-wrappers", wrappers=False)
    build_probe(d)
    rc, out = check_abi("check", d, VERSION)
    expect("unchanged-no-wrappers/check", rc == 0, out,
           f"the probe without iridium.h passes check for {VERSION}")

    # The current baseline allows no change, not even growth.
    d = scratch(tmp, "append-without-bump")
    append("ir_host_api", "int (*guard_test)(ir_stream_t *s)")(d)
    build_probe(d)
    rc, out = check_abi("check", d, VERSION)
    expect("append-without-bump", rc == 1 and f"ABI {VERSION} changed" in out, out,
           f"check for {VERSION} fails when the headers grew")

    # Growth, accepted for the next minor.
    case(tmp, "append-host-entry", append("ir_host_api", "int (*guard_test)(ir_stream_t *s)"),
         True, ["appended: ir_host_api.guard_test"])
    case(tmp, "append-desc-member", append("ir_module_desc", "uint64_t guard_test"),
         True, ["appended: ir_module_desc.guard_test"])
    case(tmp, "append-key-member", append("ir_config_key", "const char *guard_test"),
         True, ["appended: ir_config_key.guard_test"])
    case(tmp, "new-enumerator",
         sub_in_header("module.h", r"IR_CLOSE_SHUTDOWN = 4", "IR_CLOSE_SHUTDOWN = 4, IR_CLOSE_GUARD_TEST = 99"),
         True, ["new enumerator: ir_close_reason::IR_CLOSE_GUARD_TEST"])

    def new_type(d):
        with open(os.path.join(d, "abi_probe.c"), "a", encoding="utf-8") as f:
            f.write("typedef struct ir_guard_test { uint32_t struct_size; int x; } ir_guard_test;\n"
                    "IR_PROBE(ir_guard_test, guard_test)\n")
    case(tmp, "new-type-and-function", new_type, True)

    # A uint32_t appended to ir_module_desc: growth if it lands at or after
    # the current size, a break if it lands in the current tail padding (an
    # older module's struct_size covers the padding, so the host would read
    # the new member from it).
    d = scratch(tmp, "probe-padding")
    size = layout(d, "sizeof(ir_module_desc)")
    append("ir_module_desc", "uint32_t guard_test")(d)
    in_padding = layout(d, "offsetof(ir_module_desc, guard_test)") < size
    case(tmp, "append-u32-to-desc", append("ir_module_desc", "uint32_t guard_test"),
         not in_padding,
         [f"INCOMPATIBLE with ABI {VERSION}"] if in_padding else
         ["appended: ir_module_desc.guard_test"])

    # Breaks of MAJOR.0 members: refused, naming MAJOR.0.
    case(tmp, "reorder", swap("ir_module_desc", "name", "version"), False, [v0])
    case(tmp, "reorder-mixed", swap("ir_config_key", "type", "name"), False, [v0])
    case(tmp, "retype-wider", replace("ir_module_desc", "abi_minor", "uint32_t abi_minor"),
         False, [v0])
    case(tmp, "retype-same-size", replace("ir_config_key", "required", "int32_t required"),
         False, [v0])
    case(tmp, "retype-callback",
         replace("ir_module_desc", "on_body_end", "int (*on_body_end)(ir_stream_t *s, int how)"),
         False, [v0])
    case(tmp, "insert-in-middle", insert_before("ir_module_desc", "keys", "void *guard_test"),
         False, [v0])
    case(tmp, "remove-1.0-last", remove("ir_module_desc", "on_close"), False, [v0])
    case(tmp, "remove-1.0-first-entry", remove("ir_host_api", "strerror"), False, [v0],
         wrappers=False)
    case(tmp, "rename", replace("ir_host_api", "strerror",
                                "const char *(*strerror_renamed)(int err)"), False, [v0],
         wrappers=False)
    case(tmp, "renumber-enumerator",
         sub_in_header("module.h", r"IR_CLOSE_ABORTED = 1\b", "IR_CLOSE_ABORTED = 7"),
         False, [v0])
    case(tmp, "grow-ir_str", append("ir_str", "size_t guard_test"), False, [v0])
    # The newest member of each growable struct, whatever minor added it.
    for s in ("ir_module_desc", "ir_host_api"):
        case(tmp, f"remove-last-of-{s}", remove(s), False, ["INCOMPATIBLE with ABI"],
             wrappers=False)


if __name__ == "__main__":
    main()
