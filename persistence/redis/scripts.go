package redis

import (
	"strconv"
	"strings"

	"github.com/redis/rueidis"
)

// The two Lua scripts are the whole write and list protocol; docs/redis.md
// describes the key layout they maintain. Every key a script touches shares
// the shard's hash tag, so a script runs on one Redis Cluster node.
//
// A record is a string
//
//	<version>:<operation id>:<expiry bucket>:<label length>:<label><value>
//
// The version is "<c>.<u>": c comes from the shard's counter (INCR) when the
// key is created, u counts the updates since. A key deleted and created
// again gets a new c, so it never gets a version it had before; an update
// costs no counter write. The expiry bucket is the record's delete-after
// time rounded up to expiryBucketMs ("0" = none): the expiry index is only
// rewritten when the bucket changes, not on every renewal.

// expiryBucketMs is the width of the expiry index's buckets (30 s): narrower
// than the lease logic's epoch grace, so that listing what is due
// (ListExpiring) never reaches a live lease. Index entries of a natively
// expired record are purged at most this much after it expired. Scores
// written with an older, wider bucket are multiples of this one: still
// valid.
const expiryBucketMs = 30000

// opsSrc applies conditional operations to records of one shard and keeps
// the shard's order index, label indexes and expiry index exact.
//
//	KEYS[1]   order index (ZSET, every live key, score 0, ordered by BYLEX)
//	KEYS[2]   counter of creations (the c of versions)
//	KEYS[3]   expiry index (ZSET, member "<key>\0<label>", score = expiry bucket)
//	KEYS[3+i] record of operation i
//	ARGV[1]   the shard's hash tag, ARGV[2] mode ("a": all or nothing, "e": each
//	          on its own, "r": each on its own, resent after a lost reply),
//	          ARGV[3] how many due expiry entries to purge (on every delete,
//	          and 16 times as many on one creation in 16, or when called
//	          with no operation)
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
local mode = ARGV[2]
local rp = #tag + 4
local n = #KEYS - 3
local vers, labels, buckets, oks = {}, {}, {}, {}
local out = {}
local purgeLimit = 0
-- No operation: a purge asked for by createSrc's caller.
if n == 0 then purgeLimit = 16 * tonumber(ARGV[3]) end

-- Pass 1: read every record and check its condition.
for i = 1, n do
  local base = 3 + (i - 1) * 7
  local raw = redis.call('GET', KEYS[3 + i])
  local ver, opid, bucket = false, false, false
  if raw then
    local ll, p
    ver, opid, bucket, ll, p = string.match(raw, '^([^:]*):([^:]*):([^:]*):(%d+):()')
    labels[i] = string.sub(raw, p, p + tonumber(ll) - 1)
  else
    labels[i] = false
  end
  vers[i], buckets[i] = ver, bucket
  local c = ARGV[base + 2]
  local ok = true
  if c == '1' then ok = not raw elseif c == '2' then ok = (raw and ver == ARGV[base + 3]) and true or false end
  if not ok and mode == 'r' then
    -- a resent operation that was applied the first time
    local kind = ARGV[base + 1]
    if kind == 'p' and raw and opid == ARGV[base + 7] then ok, out[i] = 'done', ver end
    if kind == 'd' and not raw then ok, out[i] = 'done', '' end
  end
  if not ok then
    if mode == 'a' then return {'!', tostring(i)} end
    out[i] = '!' .. (ver or '')
  end
  oks[i] = ok
end

-- Pass 2: apply the operations whose condition held.
for i = 1, n do
  local base = 3 + (i - 1) * 7
  local kind = ARGV[base + 1]
  if oks[i] ~= true then
    -- failed, or applied by an earlier attempt: out[i] is set
  elseif kind == 'c' then
    out[i] = ''
  elseif kind == 'd' then
    out[i] = ''
    local oldver, oldlabel = vers[i], labels[i]
    if oldver then
      local rk = KEYS[3 + i]
      local key = string.sub(rk, rp)
      redis.call('DEL', rk)
      redis.call('ZREM', KEYS[1], key)
      if oldlabel ~= '' then redis.call('ZREM', tag .. ':l:' .. oldlabel, key) end
      if buckets[i] ~= '0' then redis.call('ZREM', KEYS[3], key .. '\0' .. oldlabel) end
      if purgeLimit == 0 then purgeLimit = tonumber(ARGV[3]) end
    end
  else
    local rk = KEYS[3 + i]
    local key = string.sub(rk, rp)
    local oldver, oldlabel, oldbucket = vers[i], labels[i], buckets[i]
    local label = ARGV[base + 5]
    local da = ARGV[base + 6]
    local ver
    local c, u = false, 0
    if oldver then
      c, u = string.match(oldver, '^(%d+%.)(%d+)$')
      u = tonumber(u)
    end
    if c and u < 1e15 then
      ver = c .. string.format('%d', u + 1)
    else
      local cn = redis.call('INCR', KEYS[2])
      if cn % 16 == 0 then purgeLimit = 16 * tonumber(ARGV[3]) end
      ver = string.format('%d', cn) .. '.0'
    end
    local bucket = '0'
    if da ~= '0' then bucket = string.format('%d', math.ceil(tonumber(da) / {{BUCKET}}) * {{BUCKET}}) end
    local val = ver .. ':' .. ARGV[base + 7] .. ':' .. bucket .. ':' .. #label .. ':' .. label .. ARGV[base + 4]
    if da ~= '0' then
      redis.call('SET', rk, val, 'PXAT', da)
    else
      redis.call('SET', rk, val)
    end
    if not oldver then redis.call('ZADD', KEYS[1], 0, key) end
    if oldver and oldlabel ~= label then
      if oldlabel ~= '' then redis.call('ZREM', tag .. ':l:' .. oldlabel, key) end
      if oldbucket ~= '0' then redis.call('ZREM', KEYS[3], key .. '\0' .. oldlabel) end
    end
    if label ~= '' and oldlabel ~= label then redis.call('ZADD', tag .. ':l:' .. label, 0, key) end
    if bucket ~= '0' then
      if oldlabel ~= label or oldbucket ~= bucket then redis.call('ZADD', KEYS[3], bucket, key .. '\0' .. label) end
    elseif oldver and oldlabel == label and oldbucket ~= '0' then
      redis.call('ZREM', KEYS[3], key .. '\0' .. label)
    end
    out[i] = ver
  end
end

-- Remove the index entries of records Redis expired natively.
if purgeLimit > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, purgeLimit)
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
      local ll, p = string.match(v, '^[^:]*:[^:]*:[^:]*:(%d+):()')
      if string.sub(v, p, p + tonumber(ll) - 1) ~= label then v = false end
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

// updateSrc is the fast path of the commonest write, a renewal: a put
// conditional on the version that keeps the record's label and expiry
// bucket, so that no index changes. The client builds the new record and
// checks nothing the script does not check again; the script compares the
// current record's header with the expected one without parsing it (one GET,
// two string.find, three string.sub) and writes the new record. It returns 1
// when written, 0 when the record is absent or its version, label or bucket
// differ: the caller then runs opsSrc, which decides (a conflict, or a put
// that changes an index).
//
//	KEYS[1]  the record
//	ARGV[1]  "<expected version>:"
//	ARGV[2]  the new record, whole
//	ARGV[3]  the expiry bucket both records must have ("0" = none)
//	ARGV[4]  "<label length>:<label>" both records must have
//	ARGV[5]  delete-after in Unix ms ("0" = never)
const updateSrc = `
local raw = redis.call('GET', KEYS[1])
if not raw or string.sub(raw, 1, #ARGV[1]) ~= ARGV[1] then return 0 end
local p1 = string.find(raw, ':', #ARGV[1] + 1, true)
if not p1 then return 0 end
local p2 = string.find(raw, ':', p1 + 1, true)
if not p2 or string.sub(raw, p1 + 1, p2 - 1) ~= ARGV[3] or string.sub(raw, p2 + 1, p2 + #ARGV[4]) ~= ARGV[4] then return 0 end
if ARGV[5] == '0' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[5])
end
return 1
`

// createSrc is the fast path of the commonest creation, a placement: a
// create-only put with a label and an expiry time. It does what opsSrc does
// for one such put (the version from the shard's counter, the record with
// PXAT, the order, label and expiry indexes) without its tables, loops and
// parsing. It returns the new version, or "" when the key exists (the
// caller then runs opsSrc, which reports the conflict or recognises a
// resent write). The version's counter value comes back too: on one in 16
// the caller asks opsSrc for a purge of the expiry index.
//
//	KEYS[1] the record, KEYS[2] the order index, KEYS[3] the counter,
//	KEYS[4] the expiry index, KEYS[5] the label index
//	ARGV[1] the driver key, ARGV[2] the record after its version
//	(":<op id>:<bucket>:<label length>:<label><value>"), ARGV[3]
//	delete-after in Unix ms, ARGV[4] the expiry bucket, ARGV[5] the label
const createSrc = `
if redis.call('EXISTS', KEYS[1]) == 1 then return {'', 0} end
local cn = redis.call('INCR', KEYS[3])
local ver = string.format('%d', cn) .. '.0'
redis.call('SET', KEYS[1], ver .. ARGV[2], 'PXAT', ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('ZADD', KEYS[5], 0, ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1] .. '\0' .. ARGV[5])
return {ver, cn}
`

var (
	// createScript is the placement fast path (createSrc).
	createScript = rueidis.NewLuaScript(createSrc)
	// updateScript is the renewal fast path (updateSrc).
	updateScript = rueidis.NewLuaScript(updateSrc)
	// opsScriptSrc is opsSrc with the bucket width filled in.
	opsScriptSrc = strings.ReplaceAll(opsSrc, "{{BUCKET}}", strconv.Itoa(expiryBucketMs))
	opsScript    = rueidis.NewLuaScript(opsScriptSrc)
	listScript   = rueidis.NewLuaScript(listSrc)
)
