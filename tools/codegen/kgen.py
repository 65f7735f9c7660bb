#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kgen.py: generate the Kafka protocol codecs of common/kproto/ from the compact .kp
definitions (format: tools/codegen/README.md). Python 3 standard library only; meson runs it
at build time with its own interpreter:

    kgen.py --outdir DIR [--test] header.kp produce.kp fetch.kp ...

Writes DIR/api.h + DIR/api.c (API table, header codecs, generic dispatch, shared helpers)
and DIR/<api>.h + DIR/<api>.c per API; with --test, DIR/testgen.h + DIR/testgen.c instead
(fill-with-non-defaults and compare functions for the unit tests and fuzzers).
"""
import argparse
import os
import re
import sys

# ---------------------------------------------------------------------------------------
# Model and parser
# ---------------------------------------------------------------------------------------

PRIM = {
    # kp type: (C type, fixed wire size or None)
    "bool": ("bool", 1),
    "int8": ("int8_t", 1),
    "int16": ("int16_t", 2),
    "uint16": ("uint16_t", 2),
    "int32": ("int32_t", 4),
    "int64": ("int64_t", 8),
    "float64": ("double", 8),
    "uuid": ("struct sl_uuid", 16),
    "string": ("struct sl_str", None),
    "bytes": ("struct sl_chain", None),
    "records": ("struct sl_chain", None),
}
INTS = {"int8", "int16", "uint16", "int32", "int64"}
C_KEYWORDS = set("""auto break case char const continue default do double else enum extern
float for goto if inline int long register restrict return short signed sizeof static struct
switch typedef union unsigned void volatile while bool true false""".split())
VMAX_OPEN = 0x7fff


class DefError(Exception):
    pass


def parse_range(s, where):
    """'3+', '0-7', '5', 'none' -> (lo, hi) or None."""
    if s == "none":
        return None
    m = re.fullmatch(r"(\d+)\+", s)
    if m:
        return (int(m.group(1)), VMAX_OPEN)
    m = re.fullmatch(r"(\d+)-(\d+)", s)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        if lo > hi:
            raise DefError("%s: empty range %s" % (where, s))
        return (lo, hi)
    m = re.fullmatch(r"\d+", s)
    if m:
        return (int(s), int(s))
    raise DefError("%s: bad version range %r" % (where, s))


def clip(r, lo, hi):
    if r is None:
        return None
    a, b = max(r[0], lo), min(r[1], hi)
    return (a, b) if a <= b else None


class Field:
    def __init__(self, name, typ, ver, where):
        self.name = name
        self.typ = typ          # e.g. 'int32', '[]int32', '[]topic', 'leader_id_and_epoch'
        self.ver = ver          # (lo, hi) or None
        self.nullable = None
        self.tag = None
        self.flex = "inherit"   # or None (never compact) / a range
        self.default = None
        self.children = []
        self.struct = None      # Struct for struct and struct-array fields
        self.where = where

    @property
    def is_array(self):
        return self.typ.startswith("[]")

    @property
    def base(self):
        return self.typ[2:] if self.is_array else self.typ

    @property
    def is_struct(self):
        return self.base not in PRIM


class Struct:
    def __init__(self, tname, cname, fields):
        self.tname = tname      # kp type name ('' for the message root)
        self.cname = cname      # C struct name without 'struct '
        self.fields = fields


class Msg:
    def __init__(self, api, kind, key, vr, flex, fields, where):
        self.api = api          # snake api name ('produce', 'request_header')
        self.kind = kind        # 'req', 'resp', 'hdr'
        self.key = key
        self.vmin, self.vmax = vr
        self.flex = flex        # (lo, hi) or None
        self.where = where
        self.prefix = "sl_%s_%s" % (api, kind) if kind != "hdr" else "sl_" + api
        self.root = Struct("", self.prefix, fields)
        self.structs = []       # every struct, children before parents
        self._link(self.root, {})

    def _link(self, st, seen):
        for f in st.fields:
            if f.is_struct:
                cname = "%s_%s" % (self.prefix, f.base)
                if not f.children:
                    raise DefError("%s: struct type %s has no fields" % (f.where, f.base))
                if cname in seen:
                    raise DefError("%s: struct type %s defined twice" % (f.where, f.base))
                sub = Struct(f.base, cname, f.children)
                seen[cname] = sub
                f.struct = sub
                self._link(sub, seen)
            elif f.children:
                raise DefError("%s: primitive field %s has nested fields" % (f.where, f.name))
        self.structs.append(st)

    def clip(self, r):
        return clip(r, self.vmin, self.vmax)


class Api:
    def __init__(self, key, name, vr, flex):
        self.key = key
        self.name = name
        self.vmin, self.vmax = vr
        self.flex = flex
        self.msgs = []

    @property
    def camel(self):
        return "".join(p.capitalize() for p in self.name.split("_"))


def parse_field(toks, where):
    if len(toks) < 3:
        raise DefError("%s: expected 'name type versions ...'" % where)
    name, typ, ver = toks[0], toks[1], parse_range(toks[2], where)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name in C_KEYWORDS:
        raise DefError("%s: bad field name %r" % (where, name))
    base = typ[2:] if typ.startswith("[]") else typ
    if not re.fullmatch(r"[a-z][a-z0-9_]*", base):
        raise DefError("%s: bad type %r" % (where, typ))
    f = Field(name, typ, ver, where)
    i = 3
    while i < len(toks):
        k = toks[i]
        if i + 1 >= len(toks):
            raise DefError("%s: %s needs a value" % (where, k))
        val = toks[i + 1]
        if k == "nullable":
            f.nullable = parse_range(val, where)
        elif k == "tag":
            f.tag = int(val)
        elif k == "flexible":
            f.flex = parse_range(val, where)
        elif k == "default":
            f.default = val
        else:
            raise DefError("%s: unknown attribute %r" % (where, k))
        i += 2
    if f.default is not None:
        check_default(f)
    return f


def check_default(f):
    d, t = f.default, f.typ
    if t in INTS:
        if not re.fullmatch(r"-?\d+", d):
            raise DefError("%s: bad integer default %r" % (f.where, d))
    elif t == "bool":
        if d not in ("true", "false"):
            raise DefError("%s: bad bool default %r" % (f.where, d))
    elif t == "string":
        if d != "null" and not re.fullmatch(r'"[^"\\]*"', d):
            raise DefError("%s: bad string default %r" % (f.where, d))
    elif t in ("bytes", "records"):
        if d != "null":
            raise DefError("%s: bytes default must be null" % f.where)
    else:
        raise DefError("%s: no default allowed for type %s" % (f.where, t))


def tokenize(line):
    return re.findall(r'"[^"]*"|\S+', line)


def parse_kp(path):
    """Returns a list of Api (for api files) or of header Msgs."""
    apis, hdrs = [], []
    api = None
    stack = None  # list of field lists by depth, for the current message
    cur_msg = None
    pending = []  # (kind, fields, where) to finalize

    def finish():
        nonlocal cur_msg
        if cur_msg is None:
            return
        kind, fields, where, owner = cur_msg
        if kind == "hdr":
            name, vr, flex = owner
            hdrs.append(Msg(name, "hdr", None, vr, flex, fields, where))
        else:
            owner.msgs.append(Msg(owner.name, kind, owner.key, (owner.vmin, owner.vmax),
                                  owner.flex, fields, where))
        cur_msg = None

    with open(path) as fh:
        lines = fh.read().split("\n")
    for ln, raw in enumerate(lines, 1):
        where = "%s:%d" % (os.path.basename(path), ln)
        if "\t" in raw:
            raise DefError("%s: indent with spaces, not tabs" % where)
        s = raw.rstrip()
        if not s.strip() or s.lstrip().startswith("#"):
            continue
        ind = len(s) - len(s.lstrip(" "))
        toks = tokenize(s)
        if ind == 0:
            finish()
            if toks[0] == "api":
                # api KEY NAME versions R flexible R
                if len(toks) != 7 or toks[3] != "versions" or toks[5] != "flexible":
                    raise DefError("%s: expected 'api KEY NAME versions R flexible R'" % where)
                vr = parse_range(toks[4], where)
                api = Api(int(toks[1]), toks[2], vr, parse_range(toks[6], where))
                apis.append(api)
            elif toks[0] in ("request", "response"):
                if api is None or len(toks) != 1:
                    raise DefError("%s: %s outside an api" % (where, toks[0]))
                stack = [[]]
                cur_msg = ("req" if toks[0] == "request" else "resp", stack[0], where, api)
            elif toks[0] == "header":
                if len(toks) != 6 or toks[2] != "versions" or toks[4] != "flexible":
                    raise DefError("%s: expected 'header NAME versions R flexible R'" % where)
                stack = [[]]
                cur_msg = ("hdr", stack[0], where,
                           (toks[1], parse_range(toks[3], where), parse_range(toks[5], where)))
            else:
                raise DefError("%s: unknown statement %r" % (where, toks[0]))
            continue
        if cur_msg is None:
            raise DefError("%s: field outside a message" % where)
        if ind % 2:
            raise DefError("%s: indent by two spaces per level" % where)
        depth = ind // 2
        if depth > len(stack):
            raise DefError("%s: indented too far" % where)
        del stack[depth:]
        f = parse_field(toks, where)
        if depth - 1 >= len(stack):
            raise DefError("%s: bad nesting" % where)
        stack[depth - 1].append(f)
        stack.append(f.children)
    finish()
    for a in apis:
        if sorted(m.kind for m in a.msgs) != ["req", "resp"]:
            raise DefError("%s: api %s needs one request and one response" % (path, a.name))
    return apis, hdrs


def validate(msg):
    for st in msg.structs:
        names = set()
        tags = set()
        for f in st.fields:
            for n in (f.name, f.name + "_cnt"):
                if n in names:
                    raise DefError("%s: duplicate field %s" % (f.where, n))
            names.add(f.name)
            if f.is_array:
                names.add(f.name + "_cnt")
            if f.tag is not None:
                if f.tag in tags:
                    raise DefError("%s: duplicate tag %d" % (f.where, f.tag))
                tags.add(f.tag)
                v = msg.clip(f.ver)
                if v and (msg.flex is None or v[0] < msg.flex[0]):
                    raise DefError("%s: tagged field outside flexible versions" % f.where)
            if f.nullable and f.is_struct and not f.is_array:
                raise DefError("%s: nullable structs are not supported" % f.where)
            if f.is_array and f.base in ("bytes", "records"):
                raise DefError("%s: arrays of bytes are not supported" % f.where)
            if f.default is not None and f.is_array:
                raise DefError("%s: array defaults are not supported" % f.where)


# ---------------------------------------------------------------------------------------
# C emission helpers
# ---------------------------------------------------------------------------------------

class Out:
    def __init__(self):
        self.lines = []
        self.ind = 0

    def __call__(self, s=""):
        if s == "":
            self.lines.append("")
        else:
            self.lines.append("\t" * self.ind + s)

    def open(self, s):
        self(s + " {" if s else "{")
        self.ind += 1

    def close(self, s=""):
        self.ind -= 1
        self("}" + s)

    def text(self):
        return "\n".join(self.lines) + "\n"


def vcond(r, lo, hi, var="v"):
    """C condition for version var in range r, knowing lo <= var <= hi. None = always."""
    r = clip(r, lo, hi)
    if r is None:
        return "false"
    c = []
    if r[0] > lo:
        c.append("%s >= %d" % (var, r[0]))
    if r[1] < hi:
        c.append("%s <= %d" % (var, r[1]))
    if not c:
        return None
    if r[0] == r[1]:
        return "%s == %d" % (var, r[0])
    return " && ".join(c)


def and_cond(*cs):
    cs = [c for c in cs if c is not None]
    if "false" in cs:
        return "false"
    if not cs:
        return None
    return " && ".join("(%s)" % c if "||" in c else c for c in cs)


def vrange_text(r):
    if r is None:
        return "never"
    if r[1] == VMAX_OPEN:
        return "v%d+" % r[0]
    if r[0] == r[1]:
        return "v%d" % r[0]
    return "v%d-%d" % r


def ctype(f):
    if f.is_struct:
        return "struct " + f.struct.cname
    return PRIM[f.base][0]


def c_default(f):
    """C expression of a scalar default (ints/bools)."""
    if f.typ == "bool":
        return f.default or "false"
    if f.typ in INTS or f.typ == "float64":
        d = int(f.default) if f.default else 0
        if f.typ == "int64" and d == -(2 ** 63):
            return "INT64_MIN"
        if f.typ == "int32" and d == -(2 ** 31):
            return "INT32_MIN"
        if f.typ == "int64":
            return "INT64_C(%d)" % d
        return str(d)
    raise AssertionError(f.typ)


def str_default(f):
    """None (null), or the C string literal."""
    d = f.default
    if d == "null":
        return None
    if d is None:
        return '""'
    return d


def field_comment(msg, f):
    parts = [vrange_text(msg.clip(f.ver))]
    if f.nullable and msg.clip(f.nullable):
        parts.append("nullable " + vrange_text(msg.clip(f.nullable)))
    if f.tag is not None:
        parts.append("tag %d" % f.tag)
    if f.default is not None:
        parts.append("default " + f.default)
    if f.typ == "records":
        parts.append("record batches")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------
# Minimum wire sizes (bound array counts by the bytes left)
# ---------------------------------------------------------------------------------------

def is_flex(msg, f, v):
    if f.flex is None:
        return False
    fr = msg.flex if f.flex == "inherit" else f.flex
    return fr is not None and fr[0] <= v <= fr[1]


def msg_flex(msg, v):
    return msg.flex is not None and msg.flex[0] <= v <= msg.flex[1]


def elem_min(msg, f, v):
    """Minimum wire size of one element of f (or of f itself if not an array)."""
    fl = is_flex(msg, f, v)
    b = f.base
    if f.is_struct:
        return struct_min(msg, f.struct, v)
    if b in ("string",):
        return 1 if fl else 2
    if b in ("bytes", "records"):
        return 1 if fl else 4
    return PRIM[b][1]


def field_min(msg, f, v):
    if f.is_array:
        return 1 if is_flex(msg, f, v) else 4
    return elem_min(msg, f, v)


def struct_min(msg, st, v):
    n = 0
    for f in st.fields:
        if f.tag is not None:
            continue
        r = msg.clip(f.ver)
        if r and r[0] <= v <= r[1]:
            n += field_min(msg, f, v)
    if msg_flex(msg, v):
        n += 1
    return n


# ---------------------------------------------------------------------------------------
# Decoder / encoder / init emission
# ---------------------------------------------------------------------------------------

def sname(st):
    return st.cname[3:]  # without 'sl_'


def msg_uses_flex(msg):
    return msg.flex is not None and msg.clip(msg.flex) is not None


def flex_expr(msg, f):
    """C expression: is f compact in version v (inside a function with 'flex')."""
    if f.flex is None:
        return "false"
    if f.flex == "inherit":
        return "flex" if msg_uses_flex(msg) else "false"
    return vcond(f.flex, msg.vmin, msg.vmax) or "true"


def null_expr(msg, f):
    """C expression: may f be null in version v (evaluated where f is present)."""
    if not f.nullable:
        return "false"
    fr = msg.clip(f.ver)
    if fr is None or clip(f.nullable, fr[0], fr[1]) is None:
        return "false"
    return vcond(f.nullable, fr[0], fr[1]) or "true"


def emit_dec_scalar(o, msg, f, base, lhs, fx):
    """Decode one scalar value of kp type base into lhs."""
    if base == "bool":
        o("%s = sl_crd_i8(rd) != 0;" % lhs)
    elif base == "int8":
        o("%s = sl_crd_i8(rd);" % lhs)
    elif base == "int16":
        o("%s = sl_crd_i16(rd);" % lhs)
    elif base == "uint16":
        o("%s = (uint16_t)sl_crd_i16(rd);" % lhs)
    elif base == "int32":
        o("%s = sl_crd_i32(rd);" % lhs)
    elif base == "int64":
        o("%s = sl_crd_i64(rd);" % lhs)
    elif base == "float64":
        o("%s = sl_kp_f64(sl_crd_i64(rd));" % lhs)
    elif base == "uuid":
        o("sl_crd_uuid(rd, %s.b);" % lhs)
    elif base == "string":
        o("sl_kp_rstr(rd, &%s, %s);" % (lhs, fx))
    elif base in ("bytes", "records"):
        o("sl_kp_rbytes(rd, &%s, %s);" % (lhs, fx))
    else:
        raise AssertionError(base)


def emit_dec_field(o, msg, f, m="m", block=True):
    lhs = "%s->%s" % (m, f.name)
    fx = flex_expr(msg, f)
    if f.is_array:
        mz = msz_expr(msg, f)
        ne = null_expr(msg, f)
        if block:
            o.open("")
        if fx == "false":
            o("int32_t n = sl_crd_array_len(rd, %s);" % mz)
        elif fx == "true":
            o("int32_t n = sl_crd_compact_array_len(rd, %s);" % mz)
        else:
            o("int32_t n = %s ? sl_crd_compact_array_len(rd, %s)" % (fx, mz))
            o("\t\t    : sl_crd_array_len(rd, %s);" % mz)
        o()
        if ne != "true":
            o("if (n < 0%s)" % ("" if ne == "false" else " && !(%s)" % ne))
            o("\tsl_crd_fail(rd, -EBADMSG);")
        o("%s_cnt = rd->err ? 0 : n;" % lhs)
        o("%s = NULL;" % lhs)
        o.open("if (n > 0 && !rd->err)")
        o("%s = sl_arena_alloc(rd->arena, (size_t)n * sizeof(*%s));" % (lhs, lhs))
        o.open("if (!%s)" % lhs)
        o("sl_crd_fail(rd, -ENOMEM);")
        o("%s_cnt = 0;" % lhs)
        o.close()
        o.open("for (int32_t i = 0; i < %s_cnt && !rd->err; i++)" % lhs)
        if f.is_struct:
            o("dec_%s(rd, v, &%s[i]);" % (sname(f.struct), lhs))
        else:
            emit_dec_scalar(o, msg, f, f.base, "%s[i]" % lhs, fx)
            if f.base == "string":
                o("if (%s[i].len < 0)" % lhs)
                o("\tsl_crd_fail(rd, -EBADMSG);")
        o.close()
        o.close()
        if block:
            o.close()
        return
    if f.is_struct:
        o("dec_%s(rd, v, &%s);" % (sname(f.struct), lhs))
        return
    emit_dec_scalar(o, msg, f, f.base, lhs, fx)
    if f.base in ("string", "bytes", "records"):
        ne = null_expr(msg, f)
        if ne != "true":
            o("if (%s.len < 0%s)" % (lhs, "" if ne == "false" else " && !(%s)" % ne))
            o("\tsl_crd_fail(rd, -EBADMSG);")


def msz_expr(msg, f):
    """C expression for the minimum element size of array f in version v."""
    vals = [elem_min(msg, f, v) for v in range(msg.vmin, msg.vmax + 1)]
    if len(set(vals)) == 1:
        return str(vals[0])
    return msz_table_name(msg, f)


_msz_tables = {}


def msz_table_name(msg, f):
    key = (msg.prefix, id(f))
    if key not in _msz_tables:
        vals = [elem_min(msg, f, v) for v in range(msg.vmin, msg.vmax + 1)]
        name = "msz_%s_%d" % (sname(msg.root), len([k for k in _msz_tables
                                                    if k[0] == msg.prefix]))
        _msz_tables[key] = (name, vals)
    return "%s[v - %d]" % (_msz_tables[key][0], msg.vmin)


def emit_enc_scalar(o, f, base, val, fx, w="w"):
    if base == "bool":
        o("sl_wbuf_i8(%s, %s ? 1 : 0);" % (w, val))
    elif base == "int8":
        o("sl_wbuf_i8(%s, %s);" % (w, val))
    elif base == "int16":
        o("sl_wbuf_i16(%s, %s);" % (w, val))
    elif base == "uint16":
        o("sl_wbuf_i16(%s, (int16_t)%s);" % (w, val))
    elif base == "int32":
        o("sl_wbuf_i32(%s, %s);" % (w, val))
    elif base == "int64":
        o("sl_wbuf_i64(%s, %s);" % (w, val))
    elif base == "float64":
        o("sl_wbuf_i64(%s, sl_kp_f64_bits(%s));" % (w, val))
    elif base == "uuid":
        o("sl_wbuf_uuid(%s, %s.b);" % (w, val))
    else:
        raise AssertionError(base)


def emit_enc_field(o, msg, f, w="w", m="m", block=True):
    val = "%s->%s" % (m, f.name)
    fx = flex_expr(msg, f)
    ne = null_expr(msg, f)
    if f.is_array:
        if block:
            o.open("")
        o("int32_t n = %s_cnt;" % val)
        o()
        if ne != "true":
            o("if (n < 0%s)" % ("" if ne == "false" else " && !(%s)" % ne))
            o("\tn = 0; /* not nullable in this version: write an empty array */")
        o.open("if (n > 0 && !%s)" % val)
        o("sl_wbuf_fail(%s, -EINVAL);" % w)
        o("n = 0;")
        o.close()
        o("sl_kp_walen(%s, n, %s);" % (w, fx))
        o.open("for (int32_t i = 0; i < n; i++)")
        ev = "%s[i]" % val
        if f.is_struct:
            o("enc_%s(%s, v, &%s);" % (sname(f.struct), w, ev))
        elif f.base == "string":
            o("sl_kp_wstr(%s, &%s, %s, false);" % (w, ev, fx))
        else:
            emit_enc_scalar(o, f, f.base, ev, fx, w)
        o.close()
        if block:
            o.close()
        return
    if f.is_struct:
        o("enc_%s(%s, v, &%s);" % (sname(f.struct), w, val))
    elif f.base == "string":
        o("sl_kp_wstr(%s, &%s, %s, %s);" % (w, val, fx, ne))
    elif f.base in ("bytes", "records"):
        o("sl_kp_wbytes(%s, &%s, %s, %s);" % (w, val, fx, ne))
    else:
        emit_enc_scalar(o, f, f.base, val, fx, w)


def nondefault_expr(f, m="m"):
    """C expression: the tagged field differs from its default (so it is written)."""
    val = "%s->%s" % (m, f.name)
    if f.is_array:
        return "%s_cnt != 0" % val
    if f.is_struct:
        return "!dflt_%s(&%s)" % (sname(f.struct), val)
    if f.base == "string":
        d = str_default(f)
        if d is None:
            return "%s.len >= 0" % val
        return "!sl_kp_str_is(&%s, %s)" % (val, d)
    if f.base in ("bytes", "records"):
        return "%s.len != %s" % (val, "-1" if f.default == "null" else "0")
    if f.base == "uuid":
        return "!sl_kp_uuid_is_zero(&%s)" % val
    return "%s != %s" % (val, c_default(f))


def emit_struct_fns(o, msg, st, public_init):
    """init, dflt (if needed), dec and enc functions for one struct."""
    lo, hi = msg.vmin, msg.vmax
    sn = sname(st)
    flexc = vcond(msg.flex, lo, hi) if msg.flex else "false"
    flexc = flexc or "true"
    tagged = sorted([f for f in st.fields if f.tag is not None and msg.clip(f.ver)],
                    key=lambda f: f.tag)

    # init
    o("void")
    o("%s_init(struct %s *m)" % (st.cname, st.cname))
    o.open("")
    o("memset(m, 0, sizeof(*m));")
    for f in st.fields:
        lhs = "m->%s" % f.name
        if f.is_array:
            continue
        if f.is_struct:
            o("%s_init(&%s);" % (f.struct.cname, lhs))
        elif f.base == "string":
            d = str_default(f)
            if d is None:
                o("%s.len = -1;" % lhs)
            else:
                o("%s.p = %s;" % (lhs, d))
                if d != '""':
                    o("%s.len = (int32_t)sizeof(%s) - 1;" % (lhs, d))
        elif f.base in ("bytes", "records"):
            # Records start empty, not null (Java's default): a Fetch response that
            # leaves them untouched must still parse in librdkafka, which rejects a
            # negative MessageSetSize.
            if f.default == "null":
                o("%s.len = -1;" % lhs)
        elif f.base == "uuid":
            pass
        elif f.default is not None and c_default(f) not in ("0", "false", "INT64_C(0)"):
            o("%s = %s;" % (lhs, c_default(f)))
    o.close()
    o()

    # dec
    o("static void")
    o("dec_%s(struct sl_crd *rd, int16_t v, struct %s *m)" % (sn, st.cname))
    o.open("")
    uses_flex = msg_uses_flex(msg)
    if uses_flex:
        o("const bool flex = %s;" % flexc)
        o()
    if not uses_flex or flexc == "true":
        o("(void)v;")
    o("%s_init(m);" % st.cname)
    for f in st.fields:
        if f.tag is not None:
            continue
        c = vcond(f.ver, lo, hi)
        if c == "false":
            continue
        if c:
            o.open("if (%s)" % c)
        emit_dec_field(o, msg, f, block=not c)
        if c:
            o.close()
    if uses_flex:
        if not tagged:
            o("if (flex)")
            o("\tsl_crd_tags(rd, NULL, NULL);")
        else:
            o.open("if (flex)")
            o("uint32_t ntag = sl_crd_uvarint(rd);")
            o()
            o("if (ntag > sl_crd_left(rd) / 2)")
            o("\tsl_crd_fail(rd, -EBADMSG);")
            o.open("for (uint32_t t = 0; t < ntag && !rd->err; t++)")
            o("uint32_t tag = sl_crd_uvarint(rd);")
            o("uint32_t size = sl_crd_uvarint(rd);")
            o("size_t start = sl_crd_left(rd);")
            o()
            o.open("if (rd->err || size > start)")
            o("sl_crd_fail(rd, -EBADMSG);")
            o("break;")
            o.close()
            o.open("switch (tag)")
            for f in tagged:
                o.ind -= 1
                o("case %d:" % f.tag)
                o.ind += 1
                c = vcond(f.ver, lo, hi)
                if c:
                    o.open("if (%s)" % c)
                else:
                    o.open("")
                emit_dec_field(o, msg, f, block=False)
                o.close()
                o("break;")
            o.ind -= 1
            o("default: /* unknown tags are skipped */")
            o.ind += 1
            o("break;")
            o.close()
            o("sl_crd_tag_end(rd, start, size);")
            o.close()
            o.close()
    o.close()
    o()

    # enc
    o("static void")
    o("enc_%s(struct sl_wbuf *w, int16_t v, const struct %s *m)" % (sn, st.cname))
    o.open("")
    if uses_flex:
        o("const bool flex = %s;" % flexc)
        o()
    if not uses_flex or flexc == "true":
        o("(void)v;")
    nonempty = False
    for f in st.fields:
        if f.tag is not None:
            continue
        c = vcond(f.ver, lo, hi)
        if c == "false":
            continue
        nonempty = True
        if c:
            o.open("if (%s)" % c)
        emit_enc_field(o, msg, f, block=not c)
        if c:
            o.close()
    if not nonempty and not uses_flex:
        o("(void)w;")
        o("(void)m;")
    if uses_flex:
        if not tagged:
            o("if (flex)")
            o("\tsl_wbuf_no_tags(w);")
        else:
            o.open("if (flex)")
            for f in tagged:
                c = and_cond(vcond(f.ver, lo, hi), nondefault_expr(f))
                o("const bool t%d = %s;" % (f.tag, c))
            o()
            o("sl_wbuf_uvarint(w, %s);" % " + ".join("(uint32_t)t%d" % f.tag for f in tagged))
            for f in tagged:
                o.open("if (t%d)" % f.tag)
                o("struct sl_wbuf tw;")
                o()
                o("sl_wbuf_init(&tw, w->arena);")
                emit_enc_field(o, msg, f, w="&tw", block=False)
                o("sl_wbuf_uvarint(w, %d);" % f.tag)
                o("sl_wbuf_uvarint(w, (uint32_t)tw.len);")
                o("sl_wbuf_splice(w, &tw);")
                o.close()
            o.close()
    o.close()
    o()


def needs_dflt(msg):
    """Struct types used as tagged struct fields need an all-defaults check."""
    need = []

    def add(st):
        if st not in need:
            for f in st.fields:
                if f.is_struct and not f.is_array:
                    add(f.struct)
            need.append(st)
    for st in msg.structs:
        for f in st.fields:
            if f.tag is not None and f.is_struct and not f.is_array:
                add(f.struct)
    return need


def emit_dflt(o, msg, st):
    o("static bool")
    o("dflt_%s(const struct %s *m)" % (sname(st), st.cname))
    o.open("")
    conds = []
    for f in st.fields:
        conds.append("!(%s)" % nondefault_expr(f))
    o("return %s;" % "\n\t\t&& ".join(conds))
    o.close()
    o()


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------

HDR_BANNER = """/* SPDX-License-Identifier: Apache-2.0 */
/* Generated by tools/codegen/kgen.py from %s in common/kproto/: do not edit. */
"""


def emit_struct_decl(o, msg, st):
    o("struct %s {" % st.cname)
    for f in st.fields:
        com = field_comment(msg, f)
        if f.is_array:
            o("\t%s *%s; /* %s */" % (ctype(f), f.name, com))
            o("\tint32_t %s_cnt; /* -1: null */" % f.name)
        else:
            o("\t%s %s; /* %s */" % (ctype(f), f.name, com))
    o("};")
    o()


def emit_msg_header(o, msg):
    for st in msg.structs:
        emit_struct_decl(o, msg, st)
    for st in msg.structs:
        o("void %s_init(struct %s *m);" % (st.cname, st.cname))
    o("int %s_decode(struct sl_crd *rd, int16_t version, struct %s *out) SL_MUST_CHECK;"
      % (msg.prefix, msg.prefix))
    o("int %s_encode(struct sl_wbuf *w, int16_t version, const struct %s *in);"
      % (msg.prefix, msg.prefix))
    o()


def emit_msg_code(o, msg):
    global _msz_tables
    body = Out()
    for st in needs_dflt(msg):
        emit_dflt(body, msg, st)
    for st in msg.structs:
        emit_struct_fns(body, msg, st, True)
    p = msg.prefix
    body("int")
    body("%s_decode(struct sl_crd *rd, int16_t version, struct %s *out)" % (p, p))
    body.open("")
    body("if (version < %d || version > %d)" % (msg.vmin, msg.vmax))
    body("\treturn -ENOTSUP;")
    body("if (rd->err)")
    body("\treturn rd->err;")
    body("dec_%s(rd, version, out);" % sname(msg.root))
    body("return rd->err;")
    body.close()
    body()
    body("int")
    body("%s_encode(struct sl_wbuf *w, int16_t version, const struct %s *in)" % (p, p))
    body.open("")
    body("if (version < %d || version > %d)" % (msg.vmin, msg.vmax))
    body("\treturn -ENOTSUP;")
    body("enc_%s(w, version, in);" % sname(msg.root))
    body("return w->err;")
    body.close()
    body()
    # prototypes of the static functions (children are emitted first, but dflt/dec/enc of
    # the root reference them only, so order is already right; declare for clarity anyway)
    for key, (name, vals) in sorted(_msz_tables.items(), key=lambda kv: kv[1][0]):
        if key[0] != msg.prefix:
            continue
        o("/* Minimum wire size of one element, by version (bounds array counts). */")
        o("static const uint16_t %s[] = {%s};" % (name, ", ".join(map(str, vals))))
        o()
    o.lines += body.lines


def gen_api_files(api, outdir, srcname):
    h = Out()
    guard = "SL_COMMON_KPROTO_%s_H" % api.name.upper()
    h.lines.append(HDR_BANNER % srcname)
    h("/*")
    h(" * %s (api key %d): versions %d-%d%s." % (api.camel, api.key, api.vmin, api.vmax,
      ", flexible from v%d" % api.flex[0] if api.flex else ", never flexible"))
    h(" *")
    h(" * Decoders read from a struct sl_crd and allocate arrays (and strings that straddle")
    h(" * segments) in rd->arena; strings, bytes and records point into the received segments,")
    h(" * so the result is valid while those and the arena are. On error the output is")
    h(" * unspecified. Encoders append to a struct sl_wbuf; bytes and records are referenced,")
    h(" * not copied, when large (keep them alive until the response is sent). Fields absent")
    h(" * in a version are neither read nor written; decode leaves them at their defaults.")
    h(" * decode/encode return 0, -ENOTSUP for a version outside the range, or the")
    h(" * reader's/writer's sticky error.")
    h(" */")
    h("#ifndef " + guard)
    h("#define " + guard)
    h()
    h("#include <stdbool.h>")
    h("#include <stdint.h>")
    h()
    h('#include "common/compiler.h"')
    h('#include "common/kbuf.h"')
    h('#include "common/kproto/api.h"')
    h()
    h("#ifdef __cplusplus")
    h('extern "C" {')
    h("#endif")
    h()
    U = api.name.upper()
    h("#define SL_%s_MIN_VER %d" % (U, api.vmin))
    h("#define SL_%s_MAX_VER %d" % (U, api.vmax))
    h("#define SL_%s_FLEX_VER %d" % (U, api.flex[0] if api.flex else -1))
    h()
    for m in api.msgs:
        emit_msg_header(h, m)
    h("#ifdef __cplusplus")
    h("}")
    h("#endif")
    h()
    h("#endif")

    c = Out()
    c.lines.append(HDR_BANNER % srcname)
    c("#include <errno.h>")
    c("#include <string.h>")
    c()
    c('#include "common/kproto/%s.h"' % api.name)
    c()
    for m in api.msgs:
        emit_msg_code(c, m)
    write(outdir, api.name + ".h", h.text())
    write(outdir, api.name + ".c", c.text())


API_H_TOP = r"""
/*
 * api.h: what the generated Kafka codecs share: the table of API keys with the versions
 * the codecs implement, request/response header versions and codecs, generic dispatch by
 * api key, and the small inline helpers the generated code uses.
 *
 * Naming: for an API `foo_bar` (Kafka's FooBar) the header "common/kproto/foo_bar.h"
 * declares struct sl_foo_bar_req / struct sl_foo_bar_resp (nested types
 * struct sl_foo_bar_req_<type>), sl_foo_bar_req_init(), sl_foo_bar_req_decode() and
 * sl_foo_bar_req_encode() (same for _resp). Field names are Kafka's in snake_case; an array
 * field x is `T *x` plus `int32_t x_cnt` (-1 = null).
 */
#ifndef SL_COMMON_KPROTO_API_H
#define SL_COMMON_KPROTO_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/compiler.h"
#include "common/kbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_uuid {
	uint8_t b[16];
};

struct sl_kapi {
	int16_t key;
	const char *name;   /* Kafka's name, e.g. "ApiVersions" */
	int16_t min_ver;    /* versions the generated codecs implement (not what is advertised) */
	int16_t max_ver;
	int16_t flex_ver;   /* first flexible version, -1 = never */
};

/* Every API with generated codecs, by ascending key. */
extern const struct sl_kapi sl_kapi_tab[];
extern const unsigned sl_kapi_cnt;

/* The table entry for key, or NULL when no codec exists for it. */
const struct sl_kapi *sl_kapi_find(int16_t key);
/* Request header version for (key, version): 2 when that version is flexible, else 1 (also
 * for unknown keys, whose header still carries a client id). */
int16_t sl_kapi_req_hdr_ver(int16_t key, int16_t version);
/* Response header version: 1 when flexible, else 0; ApiVersions always answers with v0. */
int16_t sl_kapi_resp_hdr_ver(int16_t key, int16_t version);

"""

API_H_HELPERS = r"""
/* Reads the request header of a frame (after the 4-byte size): api key and version first,
 * then the rest in the header version they imply. 0 or -EBADMSG. */
int sl_request_header_read(struct sl_crd *rd, struct sl_request_header *out) SL_MUST_CHECK;
/* Writes the response header for (key, version). */
void sl_response_header_write(struct sl_wbuf *w, int16_t key, int16_t version,
			      int32_t correlation_id);

/*
 * Generic dispatch by api key (fuzzers, tests, tools). sl_kproto_msg_size() is the size of
 * struct sl_<api>_req or _resp (0: no codec); decode/encode call the matching function with
 * out/in pointing to such a struct; -ENOTSUP for an unknown key or version.
 */
size_t sl_kproto_msg_size(int16_t key, bool resp);
int sl_kproto_decode(struct sl_crd *rd, int16_t key, bool resp, int16_t version, void *out)
	SL_MUST_CHECK;
int sl_kproto_encode(struct sl_wbuf *w, int16_t key, bool resp, int16_t version,
		     const void *in);

/* ---- helpers for the generated code ---- */

static inline void
sl_kp_rstr(struct sl_crd *rd, struct sl_str *s, bool compact)
{
	if (compact)
		sl_crd_compact_string(rd, s);
	else
		sl_crd_string(rd, s);
}

static inline void
sl_kp_rbytes(struct sl_crd *rd, struct sl_chain *c, bool compact)
{
	if (compact)
		sl_crd_compact_bytes_chain(rd, c);
	else
		sl_crd_bytes_chain(rd, c);
}

/* A null string where the version does not allow null is written as empty. */
static inline void
sl_kp_wstr(struct sl_wbuf *w, const struct sl_str *s, bool compact, bool nullable)
{
	static const struct sl_str empty = {"", 0};

	if (s->len < 0 && !nullable)
		s = &empty;
	if (compact)
		sl_wbuf_compact_string(w, s);
	else
		sl_wbuf_string(w, s);
}

static inline void
sl_kp_wbytes(struct sl_wbuf *w, const struct sl_chain *c, bool compact, bool nullable)
{
	static const struct sl_chain empty = {NULL, 0, 0};

	if (c->len < 0 && !nullable)
		c = &empty;
	if (compact)
		sl_wbuf_compact_bytes(w, c, true);
	else
		sl_wbuf_bytes(w, c, true);
}

static inline void
sl_kp_walen(struct sl_wbuf *w, int32_t n, bool compact)
{
	if (compact)
		sl_wbuf_uvarint(w, (uint32_t)n + 1); /* null (-1) -> 0 */
	else
		sl_wbuf_i32(w, n);
}

static inline bool
sl_kp_str_is(const struct sl_str *s, const char *lit)
{
	size_t n = strlen(lit);

	return s->len >= 0 && (size_t)s->len == n && (n == 0 || memcmp(s->p, lit, n) == 0);
}

static inline bool
sl_kp_uuid_is_zero(const struct sl_uuid *u)
{
	/* A loop, not a memcmp against a static zero object: C++ (bench/micro) rejects an
	 * uninitialised const object, and this needs none. */
	for (size_t i = 0; i < sizeof(u->b); i++)
		if (u->b[i])
			return false;
	return true;
}

static inline double
sl_kp_f64(int64_t bits)
{
	double d;

	memcpy(&d, &bits, sizeof(d));
	return d;
}

static inline int64_t
sl_kp_f64_bits(double d)
{
	int64_t bits;

	memcpy(&bits, &d, sizeof(d));
	return bits;
}

#ifdef __cplusplus
}
#endif

#endif
"""


def gen_common_files(apis, hdrs, outdir):
    apis = sorted(apis, key=lambda a: a.key)
    h = Out()
    h.lines.append((HDR_BANNER % "the .kp files").rstrip("\n"))
    h.lines += API_H_TOP.strip("\n").split("\n")
    h()
    h("enum sl_api_key {")
    for a in apis:
        h("\tSL_API_%s = %d," % (a.name.upper(), a.key))
    h("};")
    h()
    for m in hdrs:
        emit_msg_header(h, m)
    h.lines += API_H_HELPERS.strip("\n").split("\n")

    c = Out()
    c.lines.append(HDR_BANNER % "the .kp files")
    c("#include <errno.h>")
    c("#include <string.h>")
    c()
    c('#include "common/kproto/api.h"')
    for a in apis:
        c('#include "common/kproto/%s.h"' % a.name)
    c()
    c("const struct sl_kapi sl_kapi_tab[] = {")
    for a in apis:
        c('\t{%d, "%s", %d, %d, %d},' % (a.key, a.camel, a.vmin, a.vmax,
                                         a.flex[0] if a.flex else -1))
    c("};")
    c("const unsigned sl_kapi_cnt = %d;" % len(apis))
    c()
    maxkey = max(a.key for a in apis)
    c("/* Index into sl_kapi_tab by key, plus one (0: no codec). */")
    c("static const uint8_t kapi_idx[%d] = {" % (maxkey + 1))
    for i, a in enumerate(apis):
        c("\t[%d] = %d," % (a.key, i + 1))
    c("};")
    c()
    c("const struct sl_kapi *")
    c("sl_kapi_find(int16_t key)")
    c.open("")
    c("if (key < 0 || key > %d || !kapi_idx[key])" % maxkey)
    c("\treturn NULL;")
    c("return &sl_kapi_tab[kapi_idx[key] - 1];")
    c.close()
    c()
    c("static bool")
    c("kapi_flex(int16_t key, int16_t version)")
    c.open("")
    c("const struct sl_kapi *a = sl_kapi_find(key);")
    c()
    c("return a && a->flex_ver >= 0 && version >= a->flex_ver;")
    c.close()
    c()
    c("int16_t")
    c("sl_kapi_req_hdr_ver(int16_t key, int16_t version)")
    c.open("")
    c("return kapi_flex(key, version) ? 2 : 1;")
    c.close()
    c()
    c("int16_t")
    c("sl_kapi_resp_hdr_ver(int16_t key, int16_t version)")
    c.open("")
    c("/* KIP-511: ApiVersions answers in header v0 even when its body is flexible, so a")
    c(" * client that sent a version the broker does not know can still parse the reply. */")
    c("if (key == SL_API_API_VERSIONS)")
    c("\treturn 0;")
    c("return kapi_flex(key, version) ? 1 : 0;")
    c.close()
    c()
    for m in hdrs:
        emit_msg_code(c, m)
    c("int")
    c("sl_request_header_read(struct sl_crd *rd, struct sl_request_header *out)")
    c.open("")
    c("struct sl_crd peek = *rd;")
    c("int16_t key = sl_crd_i16(&peek);")
    c("int16_t version = sl_crd_i16(&peek);")
    c()
    c("if (peek.err)")
    c("\treturn peek.err;")
    c("return sl_request_header_decode(rd, sl_kapi_req_hdr_ver(key, version), out);")
    c.close()
    c()
    c("void")
    c("sl_response_header_write(struct sl_wbuf *w, int16_t key, int16_t version, "
      "int32_t correlation_id)")
    c.open("")
    c("struct sl_response_header h;")
    c()
    c("sl_response_header_init(&h);")
    c("h.correlation_id = correlation_id;")
    c("(void)sl_response_header_encode(w, sl_kapi_resp_hdr_ver(key, version), &h);")
    c.close()
    c()
    c("size_t")
    c("sl_kproto_msg_size(int16_t key, bool resp)")
    c.open("")
    c.open("switch (key)")
    for a in apis:
        c("case %d:" % a.key)
        c("\treturn resp ? sizeof(struct sl_%s_resp) : sizeof(struct sl_%s_req);"
          % (a.name, a.name))
    c("default:")
    c("\treturn 0;")
    c.close()
    c.close()
    c()
    c("int")
    c("sl_kproto_decode(struct sl_crd *rd, int16_t key, bool resp, int16_t version, void *out)")
    c.open("")
    c.open("switch (key)")
    for a in apis:
        c("case %d:" % a.key)
        c("\treturn resp ? sl_%s_resp_decode(rd, version, out)" % a.name)
        c("\t\t    : sl_%s_req_decode(rd, version, out);" % a.name)
    c("default:")
    c("\treturn -ENOTSUP;")
    c.close()
    c.close()
    c()
    c("int")
    c("sl_kproto_encode(struct sl_wbuf *w, int16_t key, bool resp, int16_t version, "
      "const void *in)")
    c.open("")
    c.open("switch (key)")
    for a in apis:
        c("case %d:" % a.key)
        c("\treturn resp ? sl_%s_resp_encode(w, version, in)" % a.name)
        c("\t\t    : sl_%s_req_encode(w, version, in);" % a.name)
    c("default:")
    c("\treturn -ENOTSUP;")
    c.close()
    c.close()
    write(outdir, "api.h", h.text())
    write(outdir, "api.c", c.text())


# ---------------------------------------------------------------------------------------

def write(outdir, name, text):
    path = os.path.join(outdir, name)
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except OSError:
        pass
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main(argv):
    ap = argparse.ArgumentParser(description="generate Kafka codecs from .kp definitions")
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--test", action="store_true", help="emit testgen.h/.c only")
    ap.add_argument("defs", nargs="+")
    args = ap.parse_args(argv)
    apis, hdrs = [], []
    try:
        for d in args.defs:
            a, h = parse_kp(d)
            for x in a:
                x.src = os.path.basename(d)
                if x.src != x.name + ".kp":
                    raise DefError("%s: api %s must live in %s.kp" % (d, x.name, x.name))
            apis += a
            hdrs += h
        keys = {}
        for a in apis:
            if a.key in keys or a.key < 0 or a.key > 255:
                raise DefError("api key %d: duplicate or out of range" % a.key)
            keys[a.key] = a
            for m in a.msgs:
                validate(m)
        names = sorted(h.api for h in hdrs)
        if names != ["request_header", "response_header"]:
            raise DefError("need exactly request_header and response_header, got %s" % names)
        for h in hdrs:
            validate(h)
    except DefError as e:
        sys.stderr.write("kgen: %s\n" % e)
        return 1
    os.makedirs(args.outdir, exist_ok=True)
    if args.test:
        import kgen_test
        kgen_test.gen_testgen(apis, args.outdir)
        return 0
    hdrs.sort(key=lambda m: m.api)
    gen_common_files(apis, hdrs, args.outdir)
    for a in apis:
        gen_api_files(a, args.outdir, a.src)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
