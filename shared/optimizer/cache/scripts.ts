/**
 * The cache's store scripts: each runs atomically in Redis (Lua) and has a JavaScript twin for
 * the memory store. Together they make invalidation and write-back linearizable:
 *
 * - {@link readEntryScript}: the value, its popularity counters and the generations of its tags
 *   in one round trip, claiming the load lease only when the caller is going to load.
 * - {@link writeBackScript}: stores a loaded value only if every generation read before the load
 *   is unchanged (no invalidation happened meanwhile), and releases the lease.
 * - {@link invalidateTagScript}: moves a tag's generation to a new random token, then deletes
 *   the tag's members and the tag set.
 *
 * Values are stored as JSON text (the adapters' encoding), so a generation token is stored as
 * `"<uuid>"` with its quotes and compared raw; `''` stands for "absent".
 *
 * @module
 */
import type { StoreScript } from '../../store/types.ts';

/** Compare-and-delete: releases a lease only if this isolate still holds it. */
export const releaseLeaseScript: StoreScript<number> = {
  name: 'cache-lease-release',
  lua:
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
  local(data, keys, args) {
    return data.get(keys[0]) === args[0] ? data.del(keys[0]) : 0;
  },
};

/** Reads `f` (fresh until) and `s` (stale until) from a record's JSON head without parsing it. */
const RECORD_HEAD = /^\{"f":([^,]+),"s":([^,]+),/;

/**
 * KEYS: value, lease, popularity counter (current epoch), popularity counter (previous epoch),
 * then `n` generation keys, then `m` companion keys, then (with a rate window) the window's
 * current and previous counters. ARGV: claim (`never`, `due`: only when the record is absent or
 * past its stale window, i.e. the caller will load in the foreground, `always`), now (ms), lease
 * token (JSON text), lease ms, `n`, `m`, the rate window's limit (`''`: none), its length (ms).
 *
 * Returns: value, the lease (`'1'` claimed, `'-'` not tried, else the holder's token, JSON text,
 * or `'0'`), the two counters, the `n` generations, the `m` companion values, then the rate
 * window's answer: `''` when not counted, else the requests left after this one (`'-1'`:
 * refused, not counted). `''` stands for each absent key (a Lua nil would end the array).
 *
 * The companion keys and the rate window ride in the read only when it claimed the lease, i.e.
 * this caller loads from the origin next: the load's shared state (the breaker's) and its rate
 * token cost no round trip of their own. The window is `@upstash/ratelimit`'s sliding window
 * (same keys, same arithmetic), so it counts together with the limiter's own calls.
 */
export const readEntryScript: StoreScript<string[]> = {
  name: 'cache-read-entry',
  lua: `
local v = redis.call('GET', KEYS[1])
local acquired = '-'
local claim = ARGV[1] == 'always'
if ARGV[1] == 'due' then
  claim = true
  if v then
    local f, s = string.match(v, '^{"f":([^,]+),"s":([^,]+),')
    if s and tonumber(s) and tonumber(s) > tonumber(ARGV[2]) then claim = false end
  end
end
if claim then
  if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then
    acquired = '1'
  else
    acquired = redis.call('GET', KEYS[2]) or '0'
  end
end
local n = tonumber(ARGV[5]) or (#KEYS - 4)
local m = tonumber(ARGV[6]) or 0
local out = { v or '', acquired, redis.call('GET', KEYS[3]) or '', redis.call('GET', KEYS[4]) or '' }
for i = 5, 4 + n do out[#out + 1] = redis.call('GET', KEYS[i]) or '' end
for i = 5 + n, 4 + n + m do
  if acquired == '1' then out[#out + 1] = redis.call('GET', KEYS[i]) or '' else out[#out + 1] = '' end
end
local rate = ''
if acquired == '1' and ARGV[7] and ARGV[7] ~= '' then
  local limit = tonumber(ARGV[7])
  local window = tonumber(ARGV[8])
  local current = tonumber(redis.call('GET', KEYS[5 + n + m]) or '0')
  local previous = tonumber(redis.call('GET', KEYS[6 + n + m]) or '0')
  local weighted = math.floor((1 - (tonumber(ARGV[2]) % window) / window) * previous)
  if weighted + current >= limit then
    rate = '-1'
  else
    local counted = redis.call('INCRBY', KEYS[5 + n + m], 1)
    if counted == 1 then redis.call('PEXPIRE', KEYS[5 + n + m], window * 2 + 1000) end
    rate = tostring(limit - (counted + weighted))
  end
end
out[#out + 1] = rate
return out`,
  local(data, keys, args) {
    const v = data.get(keys[0]);
    let claim = args[0] === 'always';
    if (args[0] === 'due') {
      const head = v === null ? null : RECORD_HEAD.exec(v);
      claim = !(head !== null && Number(head[2]) > Number(args[1]));
    }
    let acquired = '-';
    if (claim) {
      const holder = data.get(keys[1]);
      if (holder === null) {
        data.set(keys[1], args[2], Number(args[3]));
        acquired = '1';
      } else {
        acquired = holder;
      }
    }
    const n = args[4] === undefined ? keys.length - 4 : Number(args[4]);
    const m = Number(args[5] ?? 0);
    const out = [v ?? '', acquired];
    for (let i = 2; i < 4 + n; i++) out.push(data.get(keys[i]) ?? '');
    for (let i = 4 + n; i < 4 + n + m; i++) {
      out.push(acquired === '1' ? data.get(keys[i]) ?? '' : '');
    }
    let rate = '';
    if (acquired === '1' && args[6] !== undefined && args[6] !== '') {
      const limit = Number(args[6]);
      const window = Number(args[7]);
      const currentKey = keys[4 + n + m];
      const current = Number(data.get(currentKey) ?? 0);
      const previous = Number(data.get(keys[5 + n + m]) ?? 0);
      const weighted = Math.floor((1 - (Number(args[1]) % window) / window) * previous);
      if (weighted + current >= limit) {
        rate = '-1';
      } else {
        const counted = data.incrby(currentKey, 1);
        if (counted === 1) data.pexpire(currentKey, window * 2 + 1000);
        rate = String(limit - (counted + weighted));
      }
    }
    out.push(rate);
    return out;
  },
};

/**
 * KEYS: value, lease, then `n` generation keys, then the tag sets. ARGV: record (JSON text),
 * record ms, lease token (JSON text or `''`), tag set ms, `n`, the `n` generations read before the
 * load (`''` = absent), the member to add to the tag sets. Returns 1 when stored, 0 when refused
 * because a generation moved (an invalidation happened during the load). The lease is released
 * either way when it is still ours.
 */
export const writeBackScript: StoreScript<number> = {
  name: 'cache-write-back',
  lua: `
local n = tonumber(ARGV[5])
local ok = true
for i = 1, n do
  if (redis.call('GET', KEYS[2 + i]) or '') ~= ARGV[5 + i] then ok = false break end
end
if ok then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  for i = 3 + n, #KEYS do
    redis.call('SADD', KEYS[i], ARGV[6 + n])
    redis.call('PEXPIRE', KEYS[i], ARGV[4])
  end
end
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
if ok then return 1 end
return 0`,
  local(data, keys, args) {
    const n = Number(args[4]);
    let ok = true;
    for (let i = 1; i <= n; i++) {
      if ((data.get(keys[1 + i]) ?? '') !== args[4 + i]) {
        ok = false;
        break;
      }
    }
    if (ok) {
      data.set(keys[0], args[0], Number(args[1]));
      for (let i = 2 + n; i < keys.length; i++) {
        data.sadd(keys[i], args[5 + n]);
        data.pexpire(keys[i], Number(args[3]));
      }
    }
    if (args[2] !== '' && data.get(keys[1]) === args[2]) data.del(keys[1]);
    return ok ? 1 : 0;
  },
};

/**
 * KEYS: pairs of (generation key, tag set), one pair per tag. ARGV: the new generation (JSON
 * text, a random token), its ms, the prefix of value keys. For each tag, sets the generation
 * first, so a write-back of a load that read the old generation is refused from now on, then
 * deletes every member and the set. One round trip for any number of tags. Returns the members
 * (for the caller's memory tier).
 */
export const invalidateTagScript: StoreScript<string[]> = {
  name: 'cache-invalidate-tags',
  lua: `
local deleted = {}
for i = 1, #KEYS, 2 do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
  local members = redis.call('SMEMBERS', KEYS[i + 1])
  for _, member in ipairs(members) do
    redis.call('DEL', ARGV[3] .. member)
    deleted[#deleted + 1] = member
  end
  redis.call('DEL', KEYS[i + 1])
end
return deleted`,
  local(data, keys, args) {
    const deleted: string[] = [];
    for (let i = 0; i < keys.length; i += 2) {
      data.set(keys[i], args[0], Number(args[1]));
      for (const member of data.smembers(keys[i + 1])) {
        data.del(args[2] + member);
        deleted.push(member);
      }
      data.del(keys[i + 1]);
    }
    return deleted;
  },
};
