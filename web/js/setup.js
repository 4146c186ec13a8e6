// The pages before a team: first-run setup (/setup?token=…), an
// invitation (/invite?token=…), and the team picker at / of a deployment
// with several teams. Each answers in the server's words.

import { api } from './team.js';

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

function field(label, name, help, attrs = {}) {
  const l = document.createElement('label');
  l.append(label);
  const input = document.createElement('input');
  input.name = name;
  Object.assign(input, attrs);
  l.append(input);
  if (help) { const s = document.createElement('small'); s.className = 'muted'; s.textContent = help; l.append(s); }
  return l;
}

/** A card like the login form, with title, text and fields; returns {form, error}. */
function card(title, text, fields, submit) {
  const form = document.createElement('form');
  form.className = 'login';
  form.id = 'front';
  const h = document.createElement('h1'); h.textContent = title;
  const p = document.createElement('p'); p.className = 'muted'; p.textContent = text;
  const b = document.createElement('button'); b.type = 'submit'; b.textContent = submit;
  const error = document.createElement('p'); error.className = 'error'; error.setAttribute('role', 'alert');
  form.append(h, p, ...fields, b, error);
  document.body.append(form);
  return { form, error, button: b };
}

function onSubmit(c, fn) {
  c.form.onsubmit = async (e) => {
    e.preventDefault();
    c.error.textContent = '';
    c.button.disabled = true;
    try { await fn(new FormData(c.form)); } catch (err) { c.error.textContent = err.message; } finally { c.button.disabled = false; }
  };
}

/** /setup?token=…: the first team and its first admin. */
export async function setupPage() {
  const token = new URLSearchParams(location.search).get('token') || '';
  const c = card('Set up txxt', 'This server has no team yet. Name the first team and choose the account of its first admin: you log in with it from now on.', [
    field('Team name', 'team', 'What people see, e.g. "Ops Berlin"; the team\'s address is made from it.', { required: true, maxLength: 64, autofocus: true }),
    field('Your user name', 'username', 'The first admin: you. Others join later by invitation.', { required: true, autocomplete: 'username' }),
    field('Your password', 'password', 'At least what the server asks for; it tells you if it is too short.', { required: true, type: 'password', autocomplete: 'new-password' }),
  ], 'Create the team');
  if (!token) c.error.textContent = 'This link has no token: open the setup link the server printed when it started.';
  else {
    const st = await api('GET', '/api/setup').catch(() => null);
    if (st && !st.needed) c.error.textContent = 'This server is set up already: log in at its front page.';
  }
  onSubmit(c, async (d) => {
    const res = await api('POST', '/api/setup', { token, team: d.get('team'), username: d.get('username'), password: d.get('password') });
    location.href = `${res.url}?guide=1`;
  });
}

/** /invite?token=…: join a team, with a new account or the one logged in. */
export async function invitePage() {
  const token = new URLSearchParams(location.search).get('token') || '';
  let inv;
  try {
    inv = await api('GET', `/api/invites/${encodeURIComponent(token)}`);
  } catch (err) {
    const c = card('Invitation', err.message, [], 'Go to the front page');
    c.form.onsubmit = (e) => { e.preventDefault(); location.href = '/'; };
    return;
  }
  const me = await api('GET', '/api/me').catch(() => null);
  const c = card(`Join ${inv.team}`, `${inv.by ? `${inv.by} invites you` : 'You are invited'} to the team ${inv.team} as ${inv.role === 'viewer' ? 'a viewer (you see the calendar and change nothing)' : `${inv.role === 'admin' ? 'an admin' : 'a member'}`}. Choose a user name and a password for your account.`, [
    field('User name', 'username', 'How the team sees you; you log in with it.', { required: true, autocomplete: 'username', autofocus: true }),
    field('Password', 'password', '', { required: true, type: 'password', autocomplete: 'new-password' }),
  ], 'Join the team');
  c.form.dataset.team = inv.slug;
  if (me) {
    const b = document.createElement('button');
    b.type = 'button'; b.id = 'join-me';
    b.textContent = `Join with my account (${me.name})`;
    b.onclick = async () => {
      c.error.textContent = '';
      try { location.href = (await api('POST', `/api/invites/${encodeURIComponent(token)}/accept`, {})).url; } catch (err) { c.error.textContent = err.message; }
    };
    c.button.after(b);
  }
  onSubmit(c, async (d) => {
    const res = await api('POST', `/api/invites/${encodeURIComponent(token)}/accept`, { username: d.get('username'), password: d.get('password') });
    location.href = res.url;
  });
}

/**
 * At / of a deployment with several teams: go to the only one, or pick.
 * At a team's page the user is not in (base), the same list, said so.
 * A user in no team is told so plainly; a deployment admin gets the
 * Server screen from there too.
 */
export function pickTeam(me, base = '') {
  const teams = (me.teams || []).filter((t) => !t.archived);
  if (teams.length === 1 && !base) { location.href = `/t/${teams[0].slug}/`; return; }
  const text = !teams.length ? `You are not in any team yet: ask an admin to invite you.${me.admin ? ' As the server\'s admin, you can make a team in the Server screen.' : ''}`
    : base ? `You are not in the team at ${base}/. Your teams:` : 'Choose a team.';
  const c = card(teams.length ? 'Your teams' : `Welcome, ${me.name}`, text, [], 'Log out');
  c.form.id = teams.length ? 'front' : 'no-team';
  if (me.admin) {
    const b = document.createElement('button');
    b.type = 'button'; b.id = 'server-open'; b.className = 'secondary';
    b.textContent = 'Server: teams and accounts';
    c.button.before(b);
    import('./deploy-admin.js').then(({ ServerPanel }) => ServerPanel.mount(me, b));
  }
  const ul = document.createElement('ul');
  ul.className = 'teams';
  for (const t of teams) {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = `/t/${t.slug}/`; a.textContent = t.name;
    li.append(a, ` (${t.role})`);
    ul.append(li);
  }
  c.form.querySelector('p').after(ul);
  c.form.onsubmit = async (e) => { e.preventDefault(); await api('POST', '/api/auth/logout').catch(() => {}); location.href = '/'; };
}

export { $ };
