"""The read-only Lua script that judges one page of keys on the Redis server.

Per key it reads ``TYPE`` (and ``OBJECT IDLETIME`` when asked, both before ``HMGET``, which
counts as an access), reads the hash fields, and judges the program of
:mod:`lethe.stores.redis.program` with SQL's three-valued logic. It returns
``{existing, verdicts, deferred}``: how many of the keys exist; ``{index, code, …}`` pairs for the
keys selected (code 1) or unreadable (code 2, unknown because a timestamp is missing); and, for
each key with a timestamp the script cannot read with certainty, ``{index, idle seconds, field
values…}`` for Python to judge.

Timestamps are read as :func:`lethe.stores.listed.to_instant` reads them, for the forms it is
sure of: epoch seconds or milliseconds in ASCII digits (rounded to the microsecond half to even,
as ``datetime.fromtimestamp`` does, with the same double arithmetic), and ISO 8601
``YYYY-MM-DD[(T| )HH:MM[:SS[.fff|.ffffff]]][Z|±HH:MM]`` with valid fields. Anything else is
deferred, never guessed. The script names every key it touches in KEYS, so ACL key patterns
and ``EVAL_RO``'s read-only checks apply.
"""

__all__ = ["AGE_DELETE", "AGE_PAGE", "JUDGE_DELETE", "JUDGE_PAGE", "deleting"]

# How the script reads a timestamp (shared by both scripts): ``instant(raw)``.
_READERS = r"""local T, F, U = 1, 0, 2
local MAX_S = 253402300799 -- 9999-12-31T23:59:59Z, the last second Python can hold
local MDAYS = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
local floor = math.floor

local function half_even(x)
  local r = floor(x)
  local d = x - r
  if d > 0.5 or (d == 0.5 and r % 2 == 1) then r = r + 1 end
  return r
end

local function days(y, m, d) -- days from 1970-01-01 to the civil date
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1
  return era * 146097 + yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy - 719468
end

local function epoch_number(s)
  local t = tonumber(s)
  if t == nil or t ~= t then return nil end
  if t >= 1e11 then t = t / 1000 end
  if t > MAX_S then return nil end
  local whole = floor(t)
  local us = half_even((t - whole) * 1e6)
  if us >= 1e6 then us = us - 1e6; whole = whole + 1 end
  if whole > MAX_S then return nil end
  return whole, us
end

local function clock(rest) -- "" or "(T| )HH:MM[:SS[.f]][tz]": seconds of day, us, offset
  if rest == "" then return 0, 0, 0 end
  local hh, mm, tail = string.match(rest, "^[T ](%d%d):(%d%d)(.*)$")
  if not hh then return nil end
  local h, mi, sec, us, off = tonumber(hh), tonumber(mm), 0, 0, 0
  local ss, after = string.match(tail, "^:(%d%d)(.*)$")
  if ss then
    sec, tail = tonumber(ss), after
    local frac, rest2 = string.match(tail, "^%.(%d+)(.*)$")
    if frac then
      if #frac == 3 then us = tonumber(frac) * 1000
      elseif #frac == 6 then us = tonumber(frac)
      else return nil end
      tail = rest2
    end
  end
  if tail ~= "" and tail ~= "Z" then
    local sign, oh, om = string.match(tail, "^([+-])(%d%d):(%d%d)$")
    if not sign then return nil end
    oh, om = tonumber(oh), tonumber(om)
    if oh > 23 or om > 59 then return nil end
    off = oh * 3600 + om * 60
    if sign == "-" then off = -off end
  end
  if h > 23 or mi > 59 or sec > 59 then return nil end
  return h * 3600 + mi * 60 + sec, us, off
end

local function dd(a, b) -- two ASCII digits as a number, or nil
  if a < 48 or a > 57 or b < 48 or b > 57 then return nil end
  return (a - 48) * 10 + b - 48
end

-- "YYYY-MM-DD(T| )HH:MM:SS.ffffff(+|-)HH:MM": epoch seconds and microseconds; false when it has
-- this shape but a field out of range (unreadable, as Python says); nil for another shape
local function full(s)
  local y1, y2, y3, y4, c5, m1, m2, c8, d1, d2, c11, h1, h2, c14, i1, i2, c17, s1, s2, c20,
    f1, f2, f3, f4, f5, f6, c27, o1, o2, c30, p1, p2 = string.byte(s, 1, 32)
  if c5 ~= 45 or c8 ~= 45 or (c11 ~= 84 and c11 ~= 32) or c14 ~= 58 or c17 ~= 58
      or c20 ~= 46 or (c27 ~= 43 and c27 ~= 45) or c30 ~= 58 then
    return nil
  end
  local yh, yl, mo, d = dd(y1, y2), dd(y3, y4), dd(m1, m2), dd(d1, d2)
  local h, mi, sec, oh, om = dd(h1, h2), dd(i1, i2), dd(s1, s2), dd(o1, o2), dd(p1, p2)
  local fa, fb, fc = dd(f1, f2), dd(f3, f4), dd(f5, f6)
  if not (yh and yl and mo and d and h and mi and sec and oh and om and fa and fb and fc) then
    return nil
  end
  local y = yh * 100 + yl
  if y < 1 or mo < 1 or mo > 12 or d < 1 or h > 23 or mi > 59 or sec > 59 or oh > 23
      or om > 59 then
    return false
  end
  local dim = MDAYS[mo]
  if mo == 2 and (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) then dim = 29 end
  if d > dim then return false end
  local off = oh * 3600 + om * 60
  if c27 == 45 then off = -off end
  return days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off, fa * 10000 + fb * 100 + fc
end

local function instant(raw) -- epoch seconds and microseconds, or nil: let Python judge
  if #raw > 64 then return nil end -- no timestamp is this long; spare the pattern matching
  local s, first, last = raw, string.byte(raw, 1), string.byte(raw, -1)
  -- trim only when there is white space to trim (%s: bytes 9-13 and 32): the lazy pattern
  -- costs more than the rest of the parse
  if first and (first == 32 or (first >= 9 and first <= 13) or last == 32
      or (last >= 9 and last <= 13)) then
    s = string.match(raw, "^%s*(.-)%s*$")
  end
  if string.find(s, "^%d+$") or string.find(s, "^%d+%.%d+$") then return epoch_number(s) end
  -- the form Python's isoformat() writes, read from its bytes (no pattern, no substring):
  -- the general path below takes four matches and a string per field
  if #s == 32 then
    local s_, us = full(s)
    if s_ ~= nil then return s_, us end
    if s_ == false then return nil end
  end
  local y, mo, d, rest = string.match(s, "^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if y < 1 or mo < 1 or mo > 12 or d < 1 then return nil end
  local dim = MDAYS[mo]
  if mo == 2 and (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) then dim = 29 end
  if d > dim then return nil end
  local secs, us, off = clock(rest)
  if not secs then return nil end
  return days(y, mo, d) * 86400 + secs - off, us
end

"""

JUDGE_PAGE = (
    r"""
local P = cjson.decode(ARGV[1])
local tree, nf, instants, want_idle = P.p, P.f, P.i, P.t
local now_s, now_us = tonumber(ARGV[2]), tonumber(ARGV[3])
local fields = {}
for j = 1, nf do fields[j] = ARGV[3 + j] end
local strings = 4 + nf -- ARGV index of string 0
"""
    + _READERS
    + r"""local vals, inst_s, inst_us = {}, {}, {}

local function ev(n)
  local op = n[1]
  if op == "cmp" then
    local s = inst_s[n[2]]
    if not s then return U end
    local us, ts, tus, c = inst_us[n[2]], n[4], n[5], 0
    if s ~= ts then c = (s < ts) and -1 or 1 elseif us ~= tus then c = (us < tus) and -1 or 1 end
    local o = n[3]
    if o == "le" then return (c <= 0) and T or F end
    if o == "lt" then return (c < 0) and T or F end
    if o == "ge" then return (c >= 0) and T or F end
    return (c > 0) and T or F
  elseif op == "all" or op == "any" then
    local decisive = (op == "any") and T or F
    local unknown = false
    for k = 2, #n do
      local r = ev(n[k])
      if r == decisive then return decisive end
      if r == U then unknown = true end
    end
    if unknown then return U end
    return 1 - decisive
  elseif op == "not" then
    local r = ev(n[2])
    if r == U then return U end
    return 1 - r
  elseif op == "const" then
    return n[2]
  end
  local v = vals[n[2]]
  if op == "in" then
    if not v then return U end
    for k = 3, #n do if v == ARGV[strings + n[k]] then return T end end
    return F
  elseif op == "ne" then
    if not v then return T end
    return (v ~= ARGV[strings + n[3]]) and T or F
  elseif op == "null" then
    return v and F or T
  elseif op == "nn" then
    return v and T or F
  end
  return error("lethe: unknown program node " .. tostring(op))
end

local existing, verdicts, deferred = 0, {}, {}
local function read_type(key) -- the key's type and, for a hash, the fields' values
  if want_idle or nf == 0 then
    return redis.call("TYPE", key)["ok"], nil
  end
  -- HMGET first: one call per key instead of two; TYPE only to tell a key gone since the
  -- SCAN from a hash without the fields (both give only nils), WRONGTYPE a key of another type
  local got = redis.pcall("HMGET", key, unpack(fields))
  if type(got) == "table" and got["err"] then
    if string.find(got["err"], "^WRONGTYPE") then return "other", nil end
    return redis.error_reply(got["err"])
  end
  for j = 1, nf do
    if got[j] then return "hash", got end
  end
  return redis.call("TYPE", key)["ok"], got
end

for i, key in ipairs(KEYS) do
  local kind, got = read_type(key)
  if type(kind) == "table" then return kind end -- an error reply from read_type
  if kind ~= "none" then
    existing = existing + 1
    local idle = 0
    if want_idle then idle = redis.call("OBJECT", "IDLETIME", key) end
    vals = {[0] = key}
    if kind == "hash" and nf > 0 then
      if got == nil then got = redis.call("HMGET", key, unpack(fields)) end
      for j = 1, nf do vals[j] = got[j] end
    end
    local bad, defer = false, false
    for _, c in ipairs(instants) do
      if c == -1 then
        inst_s[c], inst_us[c] = now_s - idle, now_us
      elseif vals[c] then
        local s, us = instant(vals[c])
        if not s then defer = true; break end
        inst_s[c], inst_us[c] = s, us
      else
        inst_s[c], inst_us[c] = false, false
        bad = true
      end
    end
    if defer then
      local row = {i, idle}
      for j = 1, nf do row[j + 2] = vals[j] or false end
      deferred[#deferred + 1] = row
    else
      local r = ev(tree)
      if r == T then
        verdicts[#verdicts + 1] = i; verdicts[#verdicts + 1] = 1
      elseif r == U and bad then
        verdicts[#verdicts + 1] = i; verdicts[#verdicts + 1] = 2
      end
    end
  end
end
return {existing, verdicts, deferred}
"""
)

#: One hash field compared with one instant (``ARGV``: the field, ``le``/``lt``/``ge``/``gt``,
#: the instant's epoch seconds and microseconds); the same reply as JUDGE_PAGE. ``HMGET`` reads
#: the field; a key without it is told by ``TYPE`` (gone, or a hash without the field:
#: unreadable), one of another type by ``WRONGTYPE`` (unreadable: it has no fields).
AGE_PAGE = (
    r"""
local field, op = ARGV[1], ARGV[2]
local ts, tus = tonumber(ARGV[3]), tonumber(ARGV[4])
"""
    + _READERS
    + r"""
local existing, verdicts, deferred = 0, {}, {}
local n = 0
for i, key in ipairs(KEYS) do
  -- HMGET, not HGET: the same commands as JUDGE_PAGE, so an ACL rule granted before still
  -- suffices (``lethe grants``)
  local v = redis.pcall("HMGET", key, field)
  local verdict = 0
  if v[1] then
    v = v[1]
    existing = existing + 1
    -- the form isoformat() writes first: instant() tries the epoch patterns before it
    local s, us = nil, nil
    if #v == 32 then s, us = full(v) end
    if s == nil then s, us = instant(v) end
    if not s then
      deferred[#deferred + 1] = {i, 0, v}
    else
      local c = 0
      if s ~= ts then c = (s < ts) and -1 or 1 elseif us ~= tus then c = (us < tus) and -1 or 1 end
      if (op == "le" and c <= 0) or (op == "lt" and c < 0) or (op == "ge" and c >= 0)
          or (op == "gt" and c > 0) then
        verdict = 1
      end
    end
  elseif v["err"] then
    if not string.find(v["err"], "^WRONGTYPE") then return redis.error_reply(v["err"]) end
    existing = existing + 1
    verdict = 2
  elseif redis.call("TYPE", key)["ok"] ~= "none" then
    existing = existing + 1
    verdict = 2
  end
  if verdict ~= 0 then
    n = n + 2
    verdicts[n - 1], verdicts[n] = i, verdict
  end
end
return {existing, verdicts, deferred}
"""
)


_REPLY = "return {existing, verdicts, deferred}\n"

# After judging, the keys found selected are unlinked in the same script: a script runs
# atomically, so a key changed since it was listed is judged as it is now, and nothing not
# due is deleted. ``pcall``: a key the server refuses (an ACL key pattern) is told apart in
# ``refused`` (``{index, error, …}``) while the others are unlinked.
_UNLINK = r"""local refused = {}
for k = 1, #verdicts, 2 do
  if verdicts[k + 1] == 1 then
    local r = redis.pcall("UNLINK", KEYS[verdicts[k]])
    if type(r) == "table" and r["err"] then
      refused[#refused + 1] = verdicts[k]; refused[#refused + 1] = r["err"]
    end
  end
end
return {existing, verdicts, deferred, refused}
"""


def deleting(script: str) -> str:
    """``script`` (a page script) that also unlinks the keys it selects, answering
    ``{existing, verdicts, deferred, refused}``. Nothing is written before the last key is
    judged, so a script that fails (an error reply) has deleted nothing."""
    if not script.endswith(_REPLY):
        raise ValueError("not a page script")
    return script[: -len(_REPLY)] + _UNLINK


#: :data:`JUDGE_PAGE` that unlinks what it selects (``EVAL``: it writes).
JUDGE_DELETE = deleting(JUDGE_PAGE)
#: :data:`AGE_PAGE` that unlinks what it selects.
AGE_DELETE = deleting(AGE_PAGE)
