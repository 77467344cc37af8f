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

__all__ = ["JUDGE_PAGE"]

JUDGE_PAGE = r"""
local P = cjson.decode(ARGV[1])
local tree, nf, instants, want_idle = P.p, P.f, P.i, P.t
local now_s, now_us = tonumber(ARGV[2]), tonumber(ARGV[3])
local fields = {}
for j = 1, nf do fields[j] = ARGV[3 + j] end
local strings = 4 + nf -- ARGV index of string 0
local T, F, U = 1, 0, 2
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

local function instant(raw) -- epoch seconds and microseconds, or nil: let Python judge
  if #raw > 64 then return nil end -- no timestamp is this long; spare the pattern matching
  local s = string.match(raw, "^%s*(.-)%s*$")
  if string.find(s, "^%d+$") or string.find(s, "^%d+%.%d+$") then return epoch_number(s) end
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

local vals, inst_s, inst_us = {}, {}, {}

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
for i, key in ipairs(KEYS) do
  local kind = redis.call("TYPE", key)["ok"]
  if kind ~= "none" then
    existing = existing + 1
    local idle = 0
    if want_idle then idle = redis.call("OBJECT", "IDLETIME", key) end
    vals = {[0] = key}
    if kind == "hash" and nf > 0 then
      local got = redis.call("HMGET", key, unpack(fields))
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
