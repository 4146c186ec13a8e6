// The page's team and the JSON API. A team's page is at /t/{slug}/; a
// deployment with one team also serves it at /, where the base is ''.
// Every team route is base + path; the deployment's routes have none.

/** The team base of a path: '/t/slug' under /t/slug/, else ''. */
export function teamBase(pathname = location.pathname) {
  const m = /^\/t\/([a-z0-9][a-z0-9-]*)(\/|$)/.exec(pathname);
  return m ? `/t/${m[1]}` : '';
}

/** An API refusal: the server's message, its code and status. */
export class ApiError extends Error {
  constructor(message, code, status) { super(message); this.code = code; this.status = status; }
}

/**
 * Calls the JSON API: resolves with the answer's JSON (null for 204),
 * rejects with an ApiError in the server's words ({code, message}).
 */
export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
  let r;
  try {
    r = await fetch(path, init);
  } catch {
    throw new ApiError('The server cannot be reached.', 'UNREACHABLE', 0);
  }
  if (r.status === 204) return null;
  const data = await r.json().catch(() => null);
  if (!r.ok) throw new ApiError(data?.message || `${method} ${path} failed (${r.status})`, data?.code || '', r.status);
  return data;
}
