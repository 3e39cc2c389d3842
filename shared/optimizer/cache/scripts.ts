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
 * then the generation keys. ARGV: claim (`never`, `due`: only when the record is absent or past
 * its stale window, i.e. the caller will load in the foreground, `always`), now (ms), lease token
 * (JSON text), lease ms. Returns: value, the lease (`'1'` claimed, `'-'` not tried, else the
 * holder's token, JSON text, or `'0'`), the two counters, then
 * one generation per generation key; `''` for each absent key (a Lua nil would end the array).
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
local out = { v or '', acquired, redis.call('GET', KEYS[3]) or '', redis.call('GET', KEYS[4]) or '' }
for i = 5, #KEYS do out[#out + 1] = redis.call('GET', KEYS[i]) or '' end
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
    const out = [v ?? '', acquired];
    for (let i = 2; i < keys.length; i++) out.push(data.get(keys[i]) ?? '');
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
