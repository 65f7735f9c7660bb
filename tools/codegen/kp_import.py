#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kp_import.py: derive a compact .kp definition (common/kproto/*.kp) from the facts of an
upstream Kafka message schema pair (<Api>Request.json + <Api>Response.json).

A developer tool, never run by the build. Use it to add an API or to check a hand-edited
definition against the protocol facts:

    tools/codegen/kp_import.py ../shared/kafka-protocol/messages Produce > common/kproto/produce.kp
    tools/codegen/kp_import.py --check ../shared/kafka-protocol/messages common/kproto
    tools/codegen/kp_import.py --shapes ../shared/kafka-protocol/messages common/kproto \
        > common/kproto/shapes.inc

--shapes encodes, straight from the upstream schemas and independently of kgen.py, the
"shape" message of every request and response at every version (every field set: the field
at position i holds i+1, true, or its own name; one element per struct array, two per
primitive array; see sl_kptest_shape() in testgen.h) and prints its length and FNV-1a hash.
kproto_test compares the generated encoders against that table, so a version gate,
nullable/compact rule or tag the generator gets wrong fails there even when the decoder
agrees with the encoder.

Only facts are carried over (field names, types, version ranges, nullability, tags,
defaults); documentation text is not. The .kp format is described in tools/codegen/README.md.
"""
import json
import os
import re
import sys

HEADERS = [("RequestHeader", "request_header"), ("ResponseHeader", "response_header")]
PRIMS = {"bool", "int8", "int16", "int32", "int64", "uint16", "float64", "string", "bytes",
         "records", "uuid"}


def snake(s):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


def load(path):
    with open(path) as f:
        return json.loads("\n".join(l for l in f if not l.strip().startswith("//")))


def type_name(t, api):
    """Upstream struct type -> compact snake name without the redundant API prefix."""
    s = snake(t)
    for pre in (api + "_request_", api + "_response_", api + "_"):
        if s.startswith(pre) and len(s) > len(pre):
            return s[len(pre):]
    return s


def default_of(fl):
    d = fl.get("default")
    if d is None:
        return None
    d = str(d)
    t = fl["type"]
    if t in ("string",):
        return "null" if d == "null" else ('""' if d == "" else json.dumps(d))
    if t == "bool":
        return d
    if t.startswith("int") or t == "uint16":
        v = int(d, 0)
        return str(v) if v != 0 else None
    return d


def fields_out(fields, api, ind, out, commons):
    for fl in fields:
        t = fl["type"]
        arr = t.startswith("[]")
        base = t[2:] if arr else t
        if base in PRIMS:
            tt = t
        else:
            tt = ("[]" if arr else "") + type_name(base, api)
        line = "%s%s %s %s" % ("  " * ind, snake(fl["name"]), tt, fl["versions"])
        if fl.get("nullableVersions"):
            line += " nullable " + fl["nullableVersions"]
        if "tag" in fl:
            if fl.get("taggedVersions") != fl["versions"]:
                sys.exit("%s: taggedVersions differ from versions" % fl["name"])
            line += " tag %d" % fl["tag"]
        if fl.get("flexibleVersions"):
            line += " flexible " + fl["flexibleVersions"]
        d = default_of(fl)
        if d is not None:
            line += " default " + d
        out.append(line)
        sub = fl.get("fields")
        if sub is None and base not in PRIMS:
            sub = commons.get(base)
            if sub is None:
                sys.exit("unknown struct " + base)
        if sub:
            fields_out(sub, api, ind + 1, out, commons)


def message_out(d, api, out):
    commons = {c["name"]: c["fields"] for c in d.get("commonStructs", [])}
    fields_out(d["fields"], api, 1, out, commons)


def import_api(msgdir, name):
    api = snake(name)
    rq = load(os.path.join(msgdir, name + "Request.json"))
    rs = load(os.path.join(msgdir, name + "Response.json"))
    if rq["validVersions"] != rs["validVersions"] or rq["flexibleVersions"] != rs["flexibleVersions"]:
        sys.exit(name + ": request and response ranges differ")
    out = ["# SPDX-License-Identifier: Apache-2.0",
           "# %s: fields, types and version ranges of the Kafka protocol (format: tools/codegen/README.md)." % name,
           "api %d %s versions %s flexible %s" % (rq["apiKey"], api, rq["validVersions"],
                                                   rq["flexibleVersions"]),
           "", "request"]
    message_out(rq, api, out)
    out += ["", "response"]
    message_out(rs, api, out)
    return "\n".join(out) + "\n"


def import_headers(msgdir):
    out = ["# SPDX-License-Identifier: Apache-2.0",
           "# Request and response headers of the Kafka protocol (format: tools/codegen/README.md)."]
    for fname, name in HEADERS:
        d = load(os.path.join(msgdir, fname + ".json"))
        out += ["", "header %s versions %s flexible %s" % (name, d["validVersions"],
                                                          d["flexibleVersions"])]
        message_out(d, name, out)
    return "\n".join(out) + "\n"


def camel_of(kp_name):
    return "".join(p.capitalize() for p in kp_name.split("_"))


def body(text):
    """The definition lines that carry facts (no comments, no blank lines)."""
    return [l.rstrip() for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]


def range_within(inner, outer):
    def lohi(r):
        if r.endswith("+"):
            return int(r[:-1]), 1 << 15
        lo, _, hi = r.partition("-")
        return int(lo), int(hi or lo)
    (a, b), (c, d) = lohi(inner), lohi(outer)
    return c <= a <= b <= d


def check(msgdir, kpdir):
    """Every .kp states exactly the upstream facts (its api line may narrow the range)."""
    import difflib
    bad = 0
    for f in sorted(os.listdir(kpdir)):
        if not f.endswith(".kp"):
            continue
        with open(os.path.join(kpdir, f)) as fh:
            have = body(fh.read())
        if f == "header.kp":
            want = body(import_headers(msgdir))
        else:
            want = body(import_api(msgdir, camel_of(f[:-3])))
            h, w = have[0].split(), want[0].split()
            if h != w and h[:4] == w[:4] and h[5:] == w[5:] and range_within(h[4], w[4]):
                have = [want[0]] + have[1:]
        if have != want:
            bad += 1
            print("MISMATCH", f)
            for line in difflib.unified_diff(want, have, "upstream", f, lineterm=""):
                print(line)
    print("checked: %s" % ("all match" if not bad else "%d mismatching" % bad))
    return 1 if bad else 0


# ---- independent shape encoder (for kproto_test) ----

INT_SIZES = {"int8": 1, "int16": 2, "uint16": 2, "int32": 4, "int64": 8}


def vin(rng, v):
    if rng is None or rng == "none":
        return False
    if rng.endswith("+"):
        return v >= int(rng[:-1])
    if "-" in rng:
        lo, hi = rng.split("-")
        return int(lo) <= v <= int(hi)
    return v == int(rng)


def uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7f) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def prim_shape(t, i, name, compact):
    if t in INT_SIZES:
        return (i + 1).to_bytes(INT_SIZES[t], "big", signed=t != "uint16")
    if t == "bool":
        return b"\x01"
    if t == "uuid":
        return bytes([i + 1]) * 16
    if t == "float64":
        import struct
        return struct.pack(">d", float(i + 1))
    data = name.encode()
    if t == "string":
        return (uvarint(len(data) + 1) if compact else len(data).to_bytes(2, "big")) + data
    if t in ("bytes", "records"):
        return (uvarint(len(data) + 1) if compact else len(data).to_bytes(4, "big")) + data
    raise ValueError(t)


def sub_fields(fl, commons):
    base = fl["type"][2:] if fl["type"].startswith("[]") else fl["type"]
    return fl.get("fields") or commons[base]


def shape_is_default(fl, i, commons):
    t = fl["type"]
    d = fl.get("default")
    if t.startswith("[]") or t in ("uuid", "bytes", "records"):
        return False
    if t in INT_SIZES:
        return i + 1 == int(str(d), 0) if d is not None else False
    if t == "bool":
        return str(d) == "true"
    if t == "string":
        return d is not None and d != "null" and d == snake(fl["name"])
    return all(shape_is_default(f, j, commons) for j, f in enumerate(sub_fields(fl, commons)))


def shape_encode(fields, v, flex, commons):
    out = bytearray()
    tagged = []
    for i, fl in enumerate(fields):
        if not vin(fl["versions"], v):
            continue
        compact = vin(fl["flexibleVersions"], v) if "flexibleVersions" in fl else flex
        t = fl["type"]
        name = snake(fl["name"])
        if t.startswith("[]"):
            base = t[2:]
            if base in PRIMS:
                elems = [prim_shape(base, i + k, name, compact) if base != "string"
                         else prim_shape(base, i, name, compact) for k in range(2)]
            else:
                elems = [shape_encode(sub_fields(fl, commons), v, flex, commons)]
            data = (uvarint(len(elems) + 1) if compact else len(elems).to_bytes(4, "big"))
            data += b"".join(elems)
        elif t in PRIMS:
            data = prim_shape(t, i, name, compact)
        else:
            data = shape_encode(sub_fields(fl, commons), v, flex, commons)
        if "tag" in fl and vin(fl.get("taggedVersions"), v):
            if not shape_is_default(fl, i, commons):
                tagged.append((fl["tag"], data))
        else:
            out += data
    if flex:
        out += uvarint(len(tagged))
        for tag, data in sorted(tagged):
            out += uvarint(tag) + uvarint(len(data)) + data
    return bytes(out)


def fnv(b):
    h = 0xcbf29ce484222325
    for x in b:
        h ^= x
        h = (h * 0x100000001b3) & 0xffffffffffffffff
    return h


def shapes(msgdir, kpdir):
    rows = []
    for f in sorted(os.listdir(kpdir)):
        if not f.endswith(".kp") or f == "header.kp":
            continue
        api = f[:-3]
        name = camel_of(api)
        for resp, suffix in ((0, "Request"), (1, "Response")):
            d = load(os.path.join(msgdir, name + suffix + ".json"))
            commons = {c["name"]: c["fields"] for c in d.get("commonStructs", [])}
            lo, hi = (int(x) for x in (d["validVersions"].split("-") * 2)[:2])
            for v in range(lo, hi + 1):
                b = shape_encode(d["fields"], v, vin(d["flexibleVersions"], v), commons)
                rows.append("{%d, %d, %d, %d, 0x%016xull}, /* %s %s v%d */"
                            % (d["apiKey"], resp, v, len(b), fnv(b), name, suffix, v))
    sys.stdout.write("/* SPDX-License-Identifier: Apache-2.0 */\n"
                     "/* Generated by tools/codegen/kp_import.py --shapes from the upstream "
                     "schemas: {api key, response, version, length, FNV-1a 64} of each shape "
                     "message. */\n" + "\n".join(rows) + "\n")
    return 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "--check":
        return check(argv[1], argv[2])
    if len(argv) >= 3 and argv[0] == "--shapes":
        return shapes(argv[1], argv[2])
    if len(argv) != 2:
        sys.exit(__doc__)
    if argv[1] == "headers":
        sys.stdout.write(import_headers(argv[0]))
    else:
        sys.stdout.write(import_api(argv[0], argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
