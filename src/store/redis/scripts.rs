//! The Lua scripts that keep the caps: each runs in Redis without any other
//! command in between, so a cap is a hard cap across every replica.

use std::sync::LazyLock;

use ::redis::Script;

/// KEYS: ticket, live set, and with a cap per identity the identity's set.
/// ARGV: value, TTL in ms, cap on live tickets, cap per identity (-1: none).
/// Returns 0 when the store is full, 1 when the key is taken, 2 when
/// minted, and `{3, ms}` when the identity is full: `ms` until its oldest
/// live ticket expires.
const MINT_LUA: &str = r"
local ttl = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local per = tonumber(ARGV[4])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local expired = string.format('(%.0f', now)
if cap >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', expired)
  if redis.call('ZCARD', KEYS[2]) >= cap then
    return 0
  end
end
if per >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', expired)
  if redis.call('ZCARD', KEYS[3]) >= per then
    local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    if oldest[2] then
      return {3, tonumber(oldest[2]) - now}
    end
    return {3, ttl}
  end
end
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl, 'NX') then
  return 1
end
local expires = string.format('%.0f', now + ttl)
if cap >= 0 then
  redis.call('ZADD', KEYS[2], expires, KEYS[1])
  redis.call('PEXPIRE', KEYS[2], ttl)
end
if per >= 0 then
  redis.call('ZADD', KEYS[3], expires, KEYS[1])
  redis.call('PEXPIRE', KEYS[3], ttl)
end
return 2
";

/// KEYS: ticket, live set. ARGV: whether the store keeps the live set
/// (`1` / `0`), the prefix of identity sets (empty on Cluster, where the
/// script touches no key it is not given: the store removes the ticket
/// from its identity's set itself). Returns the value, or nil.
///
/// A format 2 value that carries its identity's key names the identity's
/// set, which is built from it here: the layer that consumes a ticket
/// knows nothing of its identity. The set is always under the store's
/// prefix.
const CONSUME_LUA: &str = r"
local value = redis.call('GETDEL', KEYS[1])
if value then
  if ARGV[1] == '1' then
    redis.call('ZREM', KEYS[2], KEYS[1])
  end
  local flags = string.byte(value, 42)
  if ARGV[2] ~= '' and string.byte(value, 1) == 2 and flags and flags % 4 >= 2 then
    redis.call('ZREM', ARGV[2] .. string.sub(value, 43, 74), KEYS[1])
  end
end
return value
";

/// KEYS: live set. Returns the number of live tickets.
const COUNT_LUA: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('(%.0f', now))
return redis.call('ZCARD', KEYS[1])
";

/// KEYS: a bucket's live set (on Cluster, with both caps). ARGV: the
/// ticket's key, the TTL in ms, the bucket's share of `max_outstanding`.
/// Returns 1 when a place is taken for the ticket, 0 when the bucket holds
/// its share.
const RESERVE_LUA: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('(%.0f', now))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], string.format('%.0f', now + ttl), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
";

pub(super) static MINT_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(MINT_LUA));
pub(super) static CONSUME_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CONSUME_LUA));
pub(super) static COUNT_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(COUNT_LUA));
pub(super) static RESERVE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RESERVE_LUA));

/// A cap as the mint script takes it: -1 for none.
pub(super) fn cap_arg(cap: Option<usize>) -> i64 {
    cap.map_or(-1, |cap| i64::try_from(cap).unwrap_or(i64::MAX))
}
