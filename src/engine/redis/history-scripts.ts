import { Script } from './script.js';

/*
 * The Lua of history. String.raw keeps Lua's own escapes ('\n') as written. Every script
 * touches one hash slot only: the keys it is given all carry the same {tag}.
 */

/*
 * Files a private message in the conversation of its two parties. The ids of the two
 * directions come from two inboxes (two slots, maybe two nodes), so they can collide or
 * arrive out of order here: the entry takes the message's id when that keeps the stream in
 * order, else the next stream id; field 'i' always holds the message id. Shared by the post
 * script (one Redis node: one step) and file-conversation (a cluster: a second step).
 */
const fileConversation = (stream: string, id: string, tail: string, limit: string) => String.raw`
local filed = redis.pcall('XADD', ${stream}, 'MAXLEN', '~', ${limit}, ${id}, 'i', ${id}, 't', ${tail})
if type(filed) == 'table' and filed.err then
  filed = redis.call('XADD', ${stream}, 'MAXLEN', '~', ${limit}, '*', 'i', ${id}, 't', ${tail})
end`;

export const postScript = new Script('post', String.raw`
-- post: files one message and publishes it in one atomic step, in the target's slot, so
-- subscribers see each target's messages in id order and the text is never re-encoded.
-- KEYS[1] the target's stream (unused with history off)
-- KEYS[2] the guard: the recipient's nick key (private), the room's member set (room),
--         anything in the slot (public)
-- KEYS[3] the target's channel
-- KEYS[4] the dedupe ref key; anything in the slot when the post has no ref
-- ARGV[1] target kind: '*', '@' or '#'
-- ARGV[2] the sender's nick key (the envelope's from)
-- ARGV[3] the sender connection's presence entry (what the room member set holds)
-- ARGV[4] ts, ms since epoch, stamped by the accepting gateway
-- ARGV[5] the message tail, JSON (protocol/encode messageTail)
-- ARGV[6] history limit for XADD MAXLEN ~; '0' = history off
-- ARGV[7] the id to use when history is off (the gateway's IdClock); '' otherwise
-- ARGV[8] 'PUBLISH' or 'SPUBLISH'
-- ARGV[9] how long a ref is remembered, ms; '0' when the post has no ref
-- KEYS[5] (optional: one Redis node only, where any key may share a script) the private
--         conversation's stream: the message is filed there too, in the same step
-- Returns {'ok', id} | {'dup', id, ts} (the first post with that ref) | {'no_such_user'} | {'not_in_room'}
if ARGV[9] ~= '0' then
  local seen = redis.call('GET', KEYS[4])
  if seen then
    local space = string.find(seen, ' ', 1, true)
    return {'dup', string.sub(seen, 1, space - 1), string.sub(seen, space + 1)}
  end
end
if ARGV[1] == '@' and redis.call('EXISTS', KEYS[2]) == 0 then return {'no_such_user'} end
if ARGV[1] == '#' and redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 0 then return {'not_in_room'} end
local id = ARGV[7]
if ARGV[6] ~= '0' then
  -- Sender and ts ride along so that a gateway that missed the publication can rebuild
  -- the envelope from the stream (bus backfill) without parsing the tail.
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[6], '*', 't', ARGV[5], 'f', ARGV[2], 's', ARGV[4])
end
if ARGV[9] ~= '0' then
  redis.call('SET', KEYS[4], id .. ' ' .. ARGV[4], 'PX', ARGV[9])
end
if KEYS[5] then
${fileConversation('KEYS[5]', 'id', 'ARGV[5]', 'ARGV[6]')}
end
-- The envelope (engine/envelope.ts) around the msg frame (protocol/encode messageJson).
redis.call(ARGV[8], KEYS[3],
  id .. ' ' .. ARGV[4] .. ' ' .. ARGV[2] .. '\n' ..
  '{"type":"msg","id":"' .. id .. '",' .. ARGV[5] .. '\n')
return {'ok', id}
`);

export const fileConversationScript = new Script('file-conversation', String.raw`
-- file-conversation: files a private message in the conversation of its two parties, on a
-- Redis Cluster, where the conversation's slot differs from the inbox's (see fileConversation).
-- KEYS[1] the conversation stream
-- ARGV[1] the message id
-- ARGV[2] the message tail
-- ARGV[3] history limit for MAXLEN ~
-- Returns the entry's stream id.
${fileConversation('KEYS[1]', 'ARGV[1]', 'ARGV[2]', 'ARGV[3]')}
return filed
`);

export const conversationRangeScript = new Script('conversation-range', String.raw`
-- conversation-range: the entries filed before the one holding message ARGV[1], newest first.
-- An entry filed out of order has a stream id later than its message id, so the bound is
-- that entry's own id, looked for among the first entries at or after the message id;
-- failing that (trimmed), the message id itself.
-- KEYS[1] the conversation stream
-- ARGV[1] the message id to page back from; '' for the newest
-- ARGV[2] how many entries at most
-- Returns XREVRANGE entries: {{stream id, {'i', id, 't', tail}}, ...}
local bound = '+'
if ARGV[1] ~= '' then
  bound = '(' .. ARGV[1]
  local near = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', 16)
  for _, entry in ipairs(near) do
    if entry[2][2] == ARGV[1] then
      bound = '(' .. entry[1]
      break
    end
  end
end
return redis.call('XREVRANGE', KEYS[1], bound, '-', 'COUNT', ARGV[2])
`);
