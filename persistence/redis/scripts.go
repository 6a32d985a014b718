package redis

import "github.com/redis/rueidis"

// The two Lua scripts are the whole write and list protocol; docs/redis.md
// describes the key layout they maintain. Every key a script touches shares
// the shard's hash tag, so a script runs on one Redis Cluster node.
//
// A record is a string "<version>:<operation id>:<label length>:<label><value>". Versions
// come from the shard's counter (INCR), so a key deleted and created again
// never gets a version it had before.

// opsSrc applies conditional operations to records of one shard and keeps
// the shard's order index, label indexes and expiry index exact.
//
//	KEYS[1]   order index (ZSET, every live key, score 0, ordered by BYLEX)
//	KEYS[2]   version counter
//	KEYS[3]   expiry index (ZSET, member "<key>\0<label>", score = delete-after ms)
//	KEYS[3+i] record of operation i
//	ARGV[1]   the shard's hash tag, ARGV[2] mode ("a": all or nothing, "e": each
//	          on its own, "r": each on its own, resent after a lost reply),
//	          ARGV[3] how many due expiry entries to purge per write (the
//	          purge runs on one version in 16, for 16 times as many)
//	ARGV[4+7(i-1)..] operation i: kind ("p" put, "d" delete, "c" check),
//	          condition ("0" always, "1" absent, "2" version), version,
//	          value, label, delete-after in Unix ms ("0" = never), operation id
//
// The operation id (unique per write of a Store) is kept in the record, so
// that a put resent after a lost reply recognizes its own earlier success
// instead of reporting a conflict (mode "r"); a resent delete finding the
// key absent succeeds.
//
// It returns one element per operation: the new version of a put, "" for an
// applied delete or check, "!<current version>" for a failed condition in
// mode "e"; in mode "a" a failed condition returns {"!", i} and applies
// nothing.
const opsSrc = `
local tag = ARGV[1]
local rp = #tag + 4
local n = #KEYS - 3
local cur = {}
local retry = ARGV[2] == 'r'
local last = false

local function parse(v)
  local a = string.find(v, ':', 1, true)
  local o = string.find(v, ':', a + 1, true)
  local b = string.find(v, ':', o + 1, true)
  local ll = tonumber(string.sub(v, o + 1, b - 1))
  return string.sub(v, 1, a - 1), string.sub(v, b + 1, b + ll), string.sub(v, a + 1, o - 1)
end

local function check(i)
  local base = 3 + (i - 1) * 7
  local raw = redis.call('GET', KEYS[3 + i])
  local ver, label, opid = false, false, false
  if raw then ver, label, opid = parse(raw) end
  cur[i] = {ver, label}
  local c = ARGV[base + 2]
  local ok = true
  if c == '1' then ok = not raw end
  if c == '2' then ok = (raw and ver == ARGV[base + 3]) and true or false end
  if not ok and retry then
    -- a resent operation that was applied the first time
    if ARGV[base + 1] == 'p' and raw and opid == ARGV[base + 7] then return true, ver, true end
    if ARGV[base + 1] == 'd' and not raw then return true, '', true end
  end
  return ok, ver or '', false
end

local function apply(i)
  local base = 3 + (i - 1) * 7
  local kind = ARGV[base + 1]
  if kind == 'c' then return '' end
  local rk = KEYS[3 + i]
  local key = string.sub(rk, rp)
  local oldver, oldlabel = cur[i][1], cur[i][2]
  if kind == 'd' then
    if not oldver then return '' end
    redis.call('DEL', rk)
    redis.call('ZREM', KEYS[1], key)
    if oldlabel ~= '' then redis.call('ZREM', tag .. ':l:' .. oldlabel, key) end
    redis.call('ZREM', KEYS[3], key .. '\0' .. oldlabel)
    return ''
  end
  local label = ARGV[base + 5]
  local da = ARGV[base + 6]
  local ver = string.format('%d', redis.call('INCR', KEYS[2]))
  last = ver
  local val = ver .. ':' .. ARGV[base + 7] .. ':' .. #label .. ':' .. label .. ARGV[base + 4]
  if da ~= '0' then
    redis.call('SET', rk, val, 'PXAT', da)
  else
    redis.call('SET', rk, val)
  end
  if not oldver then redis.call('ZADD', KEYS[1], 0, key) end
  if oldver and oldlabel ~= label then
    if oldlabel ~= '' then redis.call('ZREM', tag .. ':l:' .. oldlabel, key) end
    redis.call('ZREM', KEYS[3], key .. '\0' .. oldlabel)
  end
  if label ~= '' and oldlabel ~= label then redis.call('ZADD', tag .. ':l:' .. label, 0, key) end
  if da ~= '0' then
    redis.call('ZADD', KEYS[3], da, key .. '\0' .. label)
  elseif oldver and oldlabel == label then
    redis.call('ZREM', KEYS[3], key .. '\0' .. label)
  end
  return ver
end

local function purge(limit)
  if limit <= 0 then return end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, limit)
  for _, m in ipairs(due) do
    local z = string.find(m, '\0', 1, true)
    local key, label = string.sub(m, 1, z - 1), string.sub(m, z + 1)
    if redis.call('EXISTS', tag .. ':r:' .. key) == 0 then
      redis.call('ZREM', KEYS[1], key)
      if label ~= '' then redis.call('ZREM', tag .. ':l:' .. label, key) end
    end
    redis.call('ZREM', KEYS[3], m)
  end
end

local out = {}
if ARGV[2] == 'a' then
  for i = 1, n do
    local ok = check(i)
    if not ok then return {'!', tostring(i)} end
  end
  for i = 1, n do out[i] = apply(i) end
else
  for i = 1, n do
    local ok, v, done = check(i)
    if done then out[i] = v elseif ok then out[i] = apply(i) else out[i] = '!' .. v end
  end
end
-- purge amortized: on one write in 16 (by the version counter), 16 times as many
if last and tonumber(last) % 16 == 0 then purge(16 * tonumber(ARGV[3])) end
return out
`

// listSrc lists live records of one shard from an index ZSET, in key order.
// It only reads: index members whose record is gone (expired natively, not
// yet purged) or, for a label index, whose record now has another label are
// skipped.
//
//	KEYS[1] the index (order index or a label index)
//	ARGV[1] the shard's hash tag, ARGV[2]/ARGV[3] BYLEX min/max,
//	ARGV[4] how many entries to return, ARGV[5] "1" to require the label ARGV[6]
//
// It returns {key1, record1, key2, record2, ...}.
const listSrc = `
local tag = ARGV[1]
local want = tonumber(ARGV[4])
local byLabel = ARGV[5] == '1'
local label = ARGV[6]
local out = {}
local cnt = 0
local min = ARGV[2]
local batch = want
if batch < 64 then batch = 64 end
while cnt < want do
  local ms = redis.call('ZRANGE', KEYS[1], min, ARGV[3], 'BYLEX', 'LIMIT', 0, batch)
  for _, m in ipairs(ms) do
    local v = redis.call('GET', tag .. ':r:' .. m)
    if v and byLabel then
      local a = string.find(v, ':', 1, true)
      local o = string.find(v, ':', a + 1, true)
      local b = string.find(v, ':', o + 1, true)
      local ll = tonumber(string.sub(v, o + 1, b - 1))
      if string.sub(v, b + 1, b + ll) ~= label then v = false end
    end
    if v then
      out[#out + 1] = m
      out[#out + 1] = v
      cnt = cnt + 1
      if cnt == want then break end
    end
  end
  if #ms < batch then break end
  min = '(' .. ms[#ms]
end
return out
`

var (
	opsScript  = rueidis.NewLuaScript(opsSrc)
	listScript = rueidis.NewLuaScript(listSrc)
)
