#!/usr/bin/env python3
"""target_minor_headers.py — every part of the SDK newer than ABI 1.0 is
hidden from a module that targets an older minor (IR_ABI_TARGET_MINOR), with
one compile error naming the minor that added it, under gcc and clang.

What is newer, and since when, comes from the headers themselves, so a later
minor's additions are checked without editing this file:
  - host-table entries and descriptor fields: the `/* ---- ABI 1.m` lines
    in ir_host_api (host.h) and ir_module_desc (module.h);
  - wrappers (iridium.h): the newest table entry each one calls;
  - flags and enumerators: every IR_* constant that the ABI 1.0 baseline
    (sdk/abi/) does not have must be named in abi.h's ABI history, whose
    entry gives its minor.
The history is checked against the markers too (a table entry it names under
1.m is marked 1.m), and IR_MODULE_DESC_SIZE against each minor's baseline.
For each newer item and each compiler: at target 0 and at its minor - 1 a use
fails with "NAME needs SDK ABI 1.m; this module targets 1.t"; at its minor
and with no target it compiles. Targets below 0 or above IR_ABI_MINOR fail
with one message naming the SDK's version.

    target_minor_headers.py SOURCE_DIR
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = sys.argv[1]
INC = os.path.join(ROOT, "sdk", "include")
HDR = os.path.join(INC, "iridium")
failures = []


def read(name):
    with open(os.path.join(HDR, name), encoding="utf-8") as f:
        return f.read()


def struct_body(text, name):
    m = re.search(r"typedef struct %s \{(.*?)\n\} %s;" % (name, name), text, re.S)
    if not m:
        sys.exit(f"target_minor_headers: no struct {name}")
    return m.group(1)


def members_by_minor(body):
    """{member: minor} from a struct body, by its `/* ---- ABI 1.m` lines."""
    out, minor = {}, 0
    body = re.sub(r"/\*(?!\s*-+\s*ABI).*?\*/", "", body, flags=re.S)
    for part in re.split(r"(/\*\s*-+\s*ABI\s+\d+\.\d+[^*]*\*/)", body):
        m = re.match(r"/\*\s*-+\s*ABI\s+\d+\.(\d+)", part)
        if m:
            minor = int(m.group(1))
            continue
        for decl in part.split(";"):
            decl = re.sub(r"IR__SINCE_\d+_\d+\(\w+\)", "", decl).strip()
            if not decl:
                continue
            fp = re.search(r"\(\s*\*\s*(\w+)\s*\)", decl)
            out[fp.group(1) if fp else re.findall(r"(\w+)\s*$", decl)[0]] = minor
    return out


abi_h, module_h, host_h, iridium_h = (read(h) for h in ("abi.h", "module.h", "host.h",
                                                       "iridium.h"))
major = int(re.search(r"#define IR_ABI_MAJOR (\d+)", abi_h).group(1))
sdk_minor = int(re.search(r"#define IR_ABI_MINOR (\d+)", abi_h).group(1))
table = members_by_minor(struct_body(host_h, "ir_host_api"))
desc = members_by_minor(struct_body(module_h, "ir_module_desc"))

# abi.h's history: "1.m  text" entries.
hist_text = re.search(r"ABI history:(.*?)\*/", abi_h, re.S).group(1)
history = {int(m.group(1)): m.group(2)
           for m in re.finditer(r"\*\s+%d\.(\d+)\s+(.*?)(?=\n\s*\*\s+%d\.\d+\s|\Z)" % (major, major),
                                hist_text, re.S)}
if sorted(history) != list(range(sdk_minor + 1)):
    failures.append(f"abi.h's ABI history lists minors {sorted(history)}, not 0..{sdk_minor}")

# Every table entry the history names under 1.m carries the 1.m marker.
for minor, text in history.items():
    for word in re.findall(r"\b[a-z_]+\b", text):
        if word in table and table[word] != minor:
            failures.append(f"history says {word} is {major}.{minor}; host.h marks it "
                            f"{major}.{table[word]}")

# Wrappers: static inline ir_*() in iridium.h, by the newest entry they call.
wrappers = {}
for m in re.finditer(r"static inline [^{;]*?\b(ir_\w+)\([^{;]*\{(.*?)\n?\}\n", iridium_h, re.S):
    calls = re.findall(r"ir__host->(\w+)", m.group(2))
    wrappers[m.group(1)] = max([table.get(c, 0) for c in calls] + [0])

# Flags and enumerators: the history entry that names one gives its minor;
# the others are 1.0's. An enumerator that the ABI 1.0 baseline lacks must be
# named there (a #define cannot be in a baseline; the history is its record).
with open(os.path.join(ROOT, "sdk", "abi", f"iridium-sdk-{major}.0.abi"), encoding="utf-8") as f:
    base0 = set(re.findall(r"<enumerator name='(\w+)'", f.read()))
constants = {}
for text in (module_h, host_h, abi_h):
    names = set(re.findall(r"#define (IR_[A-Z0-9_]+) 0x[0-9a-fA-F]+u?\b", text))
    enumerators = set()
    for body in re.findall(r"typedef enum \w+ \{(.*?)\}", text, re.S):
        enumerators |= set(re.findall(r"\b(IR_[A-Z0-9_]+)\s*=", body))
    enumerators |= set(re.findall(r"enum \{ (IR_[A-Z0-9_]+)", text))
    for name in names | enumerators:
        minors = [mi for mi, t in history.items() if mi > 0 and re.search(r"\b%s\b" % name, t)]
        if minors:
            constants[name] = min(minors)
        elif name in enumerators and name not in base0:
            failures.append(f"{name} is not in ABI {major}.0 and abi.h's history does not say "
                            "which minor added it")

items = []  # (kind, name, minor, C source using it)
for name, minor in wrappers.items():
    items.append(("wrapper", name, minor, f"void *use(void) {{ return (void *)&{name}; }}\n"))
for name, minor in table.items():
    items.append(("table entry", name, minor,
                  f"void *use(void) {{ return (void *)ir__host->{name}; }}\n"))
for name, minor in desc.items():
    items.append(("descriptor field", name, minor,
                  f"unsigned long long use(const ir_module_desc *d) {{ return (unsigned long long)d->{name}; }}\n"))
for name, minor in constants.items():
    items.append(("constant", name, minor, f"unsigned long long use(void) {{ return {name}; }}\n"))

newer = [i for i in items if i[2] > 0]
if not any(k == "wrapper" for k, _, m, _ in newer) or not any(k == "constant" for k, *_ in newer):
    failures.append(f"found no newer wrapper or constant: the parsing is broken ({newer})")

compilers = [c for c in ("gcc", "clang") if shutil.which(c)]
if not compilers:
    sys.exit("target_minor_headers: neither gcc nor clang")
tmp = tempfile.mkdtemp(prefix="iridium-target-hdr.")


def compile_use(cc, src, target):
    path = os.path.join(tmp, "use.c")
    with open(path, "w", encoding="utf-8") as f:
        f.write("#include <iridium/iridium.h>\n" + src)
    args = [cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I", INC, path]
    if target is not None:
        args.insert(1, f"-DIR_ABI_TARGET_MINOR={target}")
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode, p.stdout


checked = 0
try:
    for cc in compilers:
        for kind, name, minor, src in newer:
            for target in sorted({0, minor - 1}):
                rc, out = compile_use(cc, src, target)
                want = (f"{name} needs SDK ABI {major}.{minor}; this module targets "
                        f"{major}.{target}")
                errors = [l for l in out.splitlines() if ": error:" in l]
                if rc == 0 or want not in out:
                    failures.append(f"{cc}: {kind} {name} at target {target}: expected an error "
                                    f"saying '{want}', got rc {rc}:\n{out}")
                elif len(errors) != 1:
                    failures.append(f"{cc}: {kind} {name} at target {target}: "
                                    f"{len(errors)} errors, expected one:\n{out}")
                checked += 1
            for target in (minor, None):
                rc, out = compile_use(cc, src, target)
                if rc != 0:
                    failures.append(f"{cc}: {kind} {name} at target {target}: does not compile:\n{out}")
                checked += 1
        # The descriptor's size for each target is that minor's sizeof.
        for target in range(sdk_minor + 1):
            with open(os.path.join(ROOT, "sdk", "abi", f"iridium-sdk-{major}.{target}.abi"),
                      encoding="utf-8") as f:
                bits = int(re.search(r"class-decl name='ir_module_desc' size-in-bits='(\d+)'",
                                     f.read()).group(1))
            rc, out = compile_use(cc, f"_Static_assert(IR_MODULE_DESC_SIZE == {bits // 8}, "
                                  f"\"size\");\n", target)
            if rc != 0:
                failures.append(f"{cc}: IR_MODULE_DESC_SIZE at target {target} is not ABI "
                                f"{major}.{target}'s {bits // 8} bytes:\n{out}")
            checked += 1
        for target in (-1, sdk_minor + 1):
            rc, out = compile_use(cc, "", target)
            want = (f"IR_ABI_TARGET_MINOR asks for ABI {major}.{target}; this SDK (ABI "
                    f"{major}.{sdk_minor}) builds for minors 0 to {sdk_minor}")
            errors = [l for l in out.splitlines() if ": error:" in l]
            if rc == 0 or want not in out or len(errors) != 1:
                failures.append(f"{cc}: target {target}: expected one error saying '{want}', "
                                f"got rc {rc}:\n{out}")
            checked += 1
finally:
    shutil.rmtree(tmp, ignore_errors=True)

for kind, name, minor, _ in sorted(newer, key=lambda i: (i[2], i[0], i[1])):
    print(f"ABI {major}.{minor}: {kind} {name}")
if failures:
    print("\n".join("FAIL: " + f for f in failures))
    sys.exit(1)
print(f"OK: {len(newer)} items newer than {major}.0, {checked} compiles with {', '.join(compilers)}")
