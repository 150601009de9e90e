/**
 * The Chorus chat page: the login form, the conversations, the online list, the box where
 * people type (plain text goes to the open conversation; `!`-commands work as in the console
 * client, parsed by the same module), and resuming after a reload or a dropped connection.
 */
import { commandHelp, parseCommand } from '../../protocol/commands.js';
import { Conversation, fold } from './conversations.js';
import { byId, el } from './dom.js';
import { Transfers } from './files.js';
import { Link, type Frame } from './link.js';
import { forget, loadSaved, save } from './store.js';

const historyPage = 50;

const view = {
  banner: byId('banner'),
  loginView: byId('login-view'),
  login: byId<HTMLFormElement>('login'),
  nick: byId<HTMLInputElement>('nick'),
  password: byId<HTMLInputElement>('password'),
  loginError: byId('login-error'),
  chatView: byId('chat-view'),
  me: byId('me'),
  where: byId('where'),
  tabs: byId('tabs'),
  title: byId('title'),
  earlier: byId<HTMLButtonElement>('earlier'),
  logs: byId('logs'),
  conversation: byId('conversation'),
  compose: byId<HTMLFormElement>('compose'),
  message: byId<HTMLInputElement>('message'),
  file: byId<HTMLInputElement>('file'),
  online: byId('online'),
  onlineTitle: byId('online-title'),
  onlineMore: byId('online-more'),
};

const saved = loadSaved();
/** This user's nick as the server spelled it ('' before the first welcome). */
let self = saved?.nick ?? '';
let session = saved?.session ?? '';
const last: Record<string, string> = saved?.last ?? {};
const conversations = new Map<string, Conversation>();
let active: Conversation;
/** History is loaded once per conversation and page load: after a reload that brings the chat back. */
let historyLoaded = false;
const online = new Map<string, string>();
let onlineCount = 0;
let whoAgain = false;
let whoInFlight = false;

const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
const link = new Link(`${scheme}//${location.host}/`, {
  welcomed,
  refused,
  frame: onFrame,
  offline,
});
const transfers = new Transfers({ link, conversationOf });

function persist(): void {
  if (session === '') return;
  const targets = [...conversations.values()].map((c) => c.target).filter((t) => t !== '*');
  const outbox = link.pending().filter((f) => f.type === 'send');
  save({ nick: self, session, last, targets, outbox });
}

function conversation(target: string): Conversation {
  const key = fold(target);
  let conv = conversations.get(key);
  if (conv === undefined) {
    const title = target === '*' ? 'Everyone' : target.startsWith('@') ? target.slice(1) : target;
    const c: Conversation = new Conversation(target, title, () => select(c));
    conv = c;
    conversations.set(key, conv);
    view.tabs.append(conv.tab);
    view.logs.append(conv.log);
    conv.log.addEventListener('scroll', () => {
      if (c.log.scrollTop === 0 && c.more && !c.loading) loadEarlier(c);
    });
    if (historyLoaded && target !== '*') loadEarlier(conv);
    persist();
  }
  return conv;
}

/** Where a message to `to` from `from` is filed: a private one under the other person. */
function conversationOf(to: string, from: string): Conversation {
  if (!to.startsWith('@')) return conversation(to === '' ? '*' : to);
  return conversation(fold(from) === fold(self) ? to : `@${from}`);
}

function select(conv: Conversation): void {
  active = conv;
  for (const c of conversations.values()) c.show(c === conv);
  view.title.textContent = conv.target === '*' ? 'Everyone' : conv.target.startsWith('@') ? `Private: ${conv.title}` : conv.title;
  view.earlier.hidden = !conv.more;
  updateTitle();
}

function updateTitle(): void {
  const unread = [...conversations.values()].reduce((n, c) => n + c.unread, 0);
  document.title = unread > 0 ? `(${unread}) Chorus` : 'Chorus';
}

function banner(text: string | undefined): void {
  view.banner.hidden = text === undefined;
  view.banner.textContent = text ?? '';
}

function showChat(): void {
  view.loginView.hidden = true;
  view.chatView.hidden = false;
  view.me.textContent = self;
}

// ---- the connection ----

function welcomed(w: Frame, resumed: boolean): void {
  self = typeof w.nick === 'string' ? w.nick : self;
  if (typeof w.session === 'string') session = w.session;
  document.body.dataset.gateway = typeof w.gateway === 'string' ? w.gateway : '';
  view.where.textContent = typeof w.gateway === 'string' ? `gateway ${w.gateway}` : '';
  banner(undefined);
  showChat();
  refreshWho();
  if (resumed) transfers.resumeDownloads();
  if (!historyLoaded) {
    historyLoaded = true;
    for (const c of conversations.values()) loadEarlier(c);
    view.message.focus();
  }
  persist();
}

function refused(error: Frame, resumed: boolean): void {
  const message = typeof error.message === 'string' ? error.message : 'refused';
  const code = typeof error.code === 'string' ? error.code : '';
  if (resumed) {
    // The session is gone (grace period over): join afresh under the same nick, if free.
    link.forgetSession();
    session = '';
    for (const key of Object.keys(last)) delete last[key];
    forget();
    active?.notice(`could not resume the session (${message}); joining again`, 'error');
    link.login(self, undefined, undefined, () => last);
    return;
  }
  view.loginView.hidden = false;
  view.chatView.hidden = true;
  view.loginError.textContent = code === '' ? message : `${message} (${code})`;
  view.login.querySelector('button')!.disabled = false;
}

function offline(retryMs: number | undefined): void {
  if (retryMs === undefined) {
    if (session === '') {
      view.loginError.textContent = 'cannot reach the chat server; try again';
      view.login.querySelector('button')!.disabled = false;
    } else banner('Disconnected.');
    return;
  }
  banner(`Offline: reconnecting in ${Math.max(1, Math.round(retryMs / 1000))} s. Messages you send now go out once the connection is back.`);
}

// ---- frames from the server ----

function onFrame(f: Frame): void {
  if (transfers.handle(f)) return;
  switch (f.type) {
    case 'msg':
      return onMessage(f);
    case 'presence':
      return onPresence(f);
    case 'joined':
    case 'left': {
      const room = typeof f.room === 'string' ? conversations.get(fold(f.room)) : undefined;
      if (room !== undefined && typeof f.nick === 'string' && fold(f.nick) !== fold(self)) {
        room.notice(`${f.nick} ${f.type === 'joined' ? 'joined' : 'left'} ${room.target}`);
      }
      return;
    }
    case 'bye':
      if (f.reason === 'moved') {
        // The session went on in another tab or client: resuming here would take it back.
        link.forgetSession();
        void link.close(false);
        forget();
        banner('Your session continues elsewhere. Reload the page to join again.');
      } else if (f.reason === 'restart') banner('The server is restarting: reconnecting...');
      return;
    case 'error':
      active?.notice(`${typeof f.message === 'string' ? f.message : 'error'}${typeof f.code === 'string' ? ` (${f.code})` : ''}`, 'error');
      return;
    default:
      return; // pong, and types a newer server may add
  }
}

function onMessage(m: Frame): void {
  if (typeof m.id !== 'string' || typeof m.to !== 'string' || typeof m.from !== 'string') return;
  last[m.to] = m.id;
  const conv = conversationOf(m.to, m.from);
  const mine = fold(m.from) === fold(self);
  if (!conv.has(m.id) && !(mine && conv.adopt(m)) && conv.append(m, self) && !mine && (conv !== active || document.hidden)) {
    conv.bump();
    updateTitle();
  }
  persist();
}

function onPresence(f: Frame): void {
  const nick = f.nick;
  if ((f.event === 'online' || f.event === 'offline') && typeof nick === 'string') {
    const key = fold(nick);
    if (f.event === 'online' && !online.has(key)) {
      online.set(key, nick);
      onlineCount++;
    } else if (f.event === 'offline' && (online.delete(key) || onlineCount > online.size)) onlineCount--;
    renderOnline();
    return;
  }
  // A shape this page does not know (a batch, say): ask for the list again.
  refreshWho();
}

function refreshWho(): void {
  if (whoInFlight) {
    whoAgain = true;
    return;
  }
  whoInFlight = true;
  link.request({ type: 'who' }, (reply) => {
    whoInFlight = false;
    if (reply.type === 'who') showWho(reply);
    if (whoAgain) {
      whoAgain = false;
      refreshWho();
    }
  });
}

function showWho(reply: Frame): void {
  online.clear();
  const users = Array.isArray(reply.users) ? reply.users.filter((u): u is string => typeof u === 'string') : [];
  for (const u of users) online.set(fold(u), u);
  onlineCount = typeof reply.count === 'number' ? reply.count : users.length;
  renderOnline();
}

function renderOnline(): void {
  const nicks = [...online.values()].sort((a, b) => a.localeCompare(b));
  view.online.replaceChildren(
    ...nicks.map((nick) => {
      const isSelf = fold(nick) === fold(self);
      const button = el('button', { type: 'button', title: isSelf ? 'you' : `Chat with ${nick}` }, nick, isSelf ? ' (you)' : '');
      if (!isSelf) button.addEventListener('click', () => select(conversation(`@${nick}`)));
      return el('li', {}, button);
    }),
  );
  view.onlineTitle.textContent = `Online (${Math.max(onlineCount, nicks.length)})`;
  const more = onlineCount - nicks.length;
  view.onlineMore.textContent = more > 0 ? `and ${more} more` : '';
}

// ---- what people type ----

function sendText(to: string, text: string, ref?: string): void {
  const conv = conversationOf(to, self);
  const line = conv.pending(self, text);
  link.request(
    { type: 'send', to, text },
    (reply) => {
      if (reply.type === 'ack' && typeof reply.id === 'string') conv.confirm(line, reply.id, typeof reply.ts === 'number' ? reply.ts : Date.now());
      else {
        line.classList.replace('pending', 'failed');
        conv.notice(`not sent: ${typeof reply.message === 'string' ? reply.message : 'refused'}${typeof reply.code === 'string' ? ` (${reply.code})` : ''}`, 'error');
      }
      persist();
    },
    ref,
  );
  persist();
  if (conv !== active) select(conv);
}

function loadEarlier(conv: Conversation, limit = historyPage): void {
  if (conv.loading) return;
  conv.loading = true;
  const before = conv.oldest;
  link.request({ type: 'history', with: conv.target, limit, ...(before === undefined ? {} : { before }) }, (reply) => {
    conv.loading = false;
    if (reply.type !== 'history' || !Array.isArray(reply.messages)) {
      conv.notice(`no history: ${typeof reply.message === 'string' ? reply.message : 'refused'}`, 'error');
      return;
    }
    const messages = reply.messages.filter((m): m is Frame => typeof m === 'object' && m !== null);
    conv.prepend(messages, self);
    conv.more = messages.length >= limit;
    if (conv === active) view.earlier.hidden = !conv.more;
  });
}

function answerNotice(conv: Conversation, reply: Frame, ok: (reply: Frame) => string | undefined): void {
  if (reply.type === 'error') conv.notice(`${typeof reply.message === 'string' ? reply.message : 'refused'}${typeof reply.code === 'string' ? ` (${reply.code})` : ''}`, 'error');
  else {
    const text = ok(reply);
    if (text !== undefined) conv.notice(text);
  }
}

const names = (v: unknown): string => (Array.isArray(v) ? v.filter((x) => typeof x === 'string').join(', ') : '');

function run(line: string): void {
  // Plain text goes to the conversation on screen; the console client's shortcuts still work.
  if (!/^[!@#]/.test(line)) return sendText(active.target, line);
  const cmd = parseCommand(line);
  const here = active;
  switch (cmd.kind) {
    case 'usage':
      here.notice(cmd.message, 'error');
      return;
    case 'help':
      here.notice(['Commands:', ...commandHelp.map((l) => `  ${l}`), 'Plain text goes to the open conversation.'].join('\n'));
      return;
    case 'history': {
      const conv = cmd.with === undefined ? here : conversationOf(cmd.with, self);
      select(conv);
      loadEarlier(conv, cmd.limit);
      return;
    }
    case 'frame':
      break;
  }
  const frame = cmd.frame;
  switch (frame.type) {
    case 'send':
      return sendText(String(frame.to), String(frame.text));
    case 'join':
      link.request(frame, (reply) => {
        if (reply.type !== 'joined' || typeof reply.room !== 'string') return answerNotice(here, reply, () => undefined);
        const room = conversation(reply.room);
        room.notice(`you joined ${reply.room} (${names(reply.members)})`);
        select(room);
      });
      return;
    case 'leave':
      link.request(frame, (reply) => {
        if (reply.type !== 'left' || typeof reply.room !== 'string') return answerNotice(here, reply, () => undefined);
        const room = conversations.get(fold(reply.room));
        if (room !== undefined) {
          conversations.delete(room.key);
          room.tab.remove();
          room.log.remove();
          if (active === room) select(conversation('*'));
          persist();
        }
        active.notice(`you left ${reply.room}`);
      });
      return;
    case 'who':
      link.request(frame, (reply) =>
        answerNotice(here, reply, (r) => {
          if (r.room === undefined) showWho(r);
          return `${typeof r.room === 'string' ? `In ${r.room}` : 'Online'} (${String(r.count)}): ${names(r.users) || 'nobody'}`;
        }),
      );
      return;
    case 'bye':
      here.notice('leaving...');
      void link.close(true).then(() => {
        forget();
        location.reload();
      });
      return;
    default:
      // Commands the shared parser may learn later (`!register`, say): the server answers.
      link.request(frame, (reply) => answerNotice(here, reply, (r) => (r.type === 'registered' ? `registered: ${String(r.nick)} now needs its password` : undefined)));
  }
}

// ---- wiring ----

view.login.addEventListener('submit', (e) => {
  e.preventDefault();
  const nick = view.nick.value.trim();
  if (nick === '') return;
  view.loginError.textContent = '';
  view.login.querySelector('button')!.disabled = true;
  self = nick;
  const password = view.password.value;
  view.password.value = '';
  link.login(nick, password === '' ? undefined : password, undefined, () => last);
});

view.compose.addEventListener('submit', (e) => {
  e.preventDefault();
  const line = view.message.value;
  if (line.trim() === '') return;
  view.message.value = '';
  run(line);
});

view.earlier.addEventListener('click', () => loadEarlier(active));

view.file.addEventListener('change', () => {
  for (const file of view.file.files ?? []) void transfers.offer(file, active.target, active);
  view.file.value = '';
});

view.conversation.addEventListener('dragover', (e) => {
  if (!e.dataTransfer?.types.includes('Files')) return;
  e.preventDefault();
  view.conversation.classList.add('dropping');
});
view.conversation.addEventListener('dragleave', () => view.conversation.classList.remove('dropping'));
view.conversation.addEventListener('drop', (e) => {
  view.conversation.classList.remove('dropping');
  if (!e.dataTransfer?.files.length) return;
  e.preventDefault();
  for (const file of e.dataTransfer.files) void transfers.offer(file, active.target, active);
});

document.addEventListener('visibilitychange', () => {
  if (!document.hidden) {
    active.markRead();
    updateTitle();
  }
});

select(conversation('*'));
if (saved === undefined) {
  view.nick.focus();
} else {
  // A reload: back to the same session, with what was not yet acknowledged sent once more.
  showChat();
  banner('Reconnecting...');
  for (const target of saved.targets) conversation(target);
  select(conversation('*'));
  for (const f of saved.outbox) if (typeof f.to === 'string' && typeof f.text === 'string') sendText(f.to, f.text, f.ref);
  select(conversation('*'));
  link.login(saved.nick, undefined, saved.session, () => last);
}
