// One request at a time on a load-test connection (hello, join): the frame is sent and the
// owner's `waiter` holds the promise until the answer of `type` (or an error with its ref)
// settles it, the connection closes, or `owner.timeoutMs` passes.

/**
 * @param {{ waiter: object | null, timeoutMs: number, conn: { send(frame: object): boolean } }} owner
 * @param {object & { ref?: string }} frame
 * @param {string} type  the answer's frame type
 * @param {string} timeoutCode  the error code a timeout rejects with
 */
export function request(owner, frame, type, timeoutCode) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => failRequest(owner, timeoutCode), owner.timeoutMs);
    owner.waiter = { type, ref: frame.ref, resolve, reject, timer };
    if (!owner.conn.send(frame)) failRequest(owner, 'closed');
  });
}

/** Rejects the request in flight, if any, with an Error carrying `code`. */
export function failRequest(owner, code) {
  const w = owner.waiter;
  if (!w) return;
  owner.waiter = null;
  clearTimeout(w.timer);
  w.reject(Object.assign(new Error(code), { code }));
}
