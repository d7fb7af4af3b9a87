// The userd console: one ES module, no dependencies, no build step.
//
// It signs in (a pasted bearer token, or development sign-in when the server offers it), then
// routes on location.hash (#/users, #/users/ID, #/new) to one of three views, each cloned from
// a <template> in index.html. Every call goes to the same REST API (ZITADEL's v2 user service,
// management's ListUserChanges) that any client uses, with the signed-in token. Server data is
// only ever written with textContent, never parsed as HTML. Errors are ZITADEL's bodies; their
// `message` is shown next to whatever caused them.
//
// Sections: DOM helpers · API client · session · formatting · views (sign-in, users, user, new
// user, not found) · router.

// ---------------------------------------------------------------------------------------------
// DOM helpers

/** An element: `props` become attributes (`class`, `href`, `data-*`, `aria-*`...), `on*`
 *  functions become listeners; children are nodes or strings (as text, never as HTML). */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

/** A clone of `<template id=ID>` and its `data-ref` elements by name. */
function fromTemplate(id) {
  const fragment = document.getElementById(id).content.cloneNode(true);
  const refs = {};
  for (const el of fragment.querySelectorAll('[data-ref]')) refs[el.dataset.ref] = el;
  return { fragment, refs };
}

/** Says `text` in the status line (polite live region). */
function announce(text) {
  const status = document.getElementById('status');
  status.textContent = '';
  announcedAt = Date.now();
  // A new text node after a tick, so that the same message twice is announced twice.
  setTimeout(() => { status.textContent = text; }, 30);
}

let announcedAt = 0;

/** Clears the status line when another page opens, unless it was just said (as "User
 *  deleted." is, right before the console goes back to the list). */
function clearStaleStatus() {
  if (Date.now() - announcedAt > 1500) document.getElementById('status').textContent = '';
}

/** Shows an error in an alert region (role="alert"), or clears it. */
function showError(region, error) {
  region.textContent = error ? messageOf(error) : '';
}

function messageOf(error) {
  return error instanceof ApiError ? error.message : String(error?.message || error);
}

/** Runs `work` once at a time for `button`: while it runs, the button is marked busy and
 *  further clicks (or Enter in its form) are ignored. The button is not `disabled`, which
 *  would drop the keyboard focus to the page. */
async function busy(button, work) {
  if (button.dataset.busy) return undefined;
  button.dataset.busy = 'true';
  button.setAttribute('aria-disabled', 'true');
  try {
    return await work();
  } finally {
    delete button.dataset.busy;
    button.removeAttribute('aria-disabled');
  }
}

/** A form's field by name (`form.name`, `form.reset` and the like are the form's own members). */
function field(form, name) {
  return form.elements.namedItem(name);
}

// ---------------------------------------------------------------------------------------------
// API client

/** A failed call: ZITADEL's error body (`code`, `message`, `details`) and the HTTP status. */
class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `The server answered HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
    this.details = body?.details || [];
  }

  /** ZITADEL's error id, e.g. COMMAND-s5qqcz97hf. */
  get id() {
    return this.details.find((d) => d.id)?.id;
  }
}

/** Calls the API with the session's token; answers the JSON body or throws an ApiError.
 *  A 401 ends the session (the token expired or is no longer accepted). */
async function api(method, path, body, { token = session.token } = {}) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (e) {
    throw new ApiError(0, { message: `userd could not be reached (${e.message})` });
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && token && token === session.token) session.expired(error);
    throw error;
  }
  return data ?? {};
}

const TEXT_CONTAINS = 'TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE';
const path = (id) => `/v2/users/${encodeURIComponent(id)}`;

/** Base64 (as JSON carries bytes) of a string's UTF-8, and back. */
function toBase64(text) {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function fromBase64(b64) {
  try {
    const bytes = Uint8Array.from(atob(b64 || ''), (c) => c.charCodeAt(0));
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { binary: b64 };
  }
}

// ---------------------------------------------------------------------------------------------
// Session: the token, kept in sessionStorage (this tab only, gone when it closes).

const STORAGE_KEY = 'userd.console.session';

const session = {
  token: null,
  subject: '',
  expiresAt: 0,
  /** Why the last session ended, shown on the sign-in screen. */
  endedBecause: '',

  load() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || 'null');
      if (saved?.token && (!saved.expiresAt || saved.expiresAt > Date.now())) {
        Object.assign(this, saved);
      }
    } catch {
      sessionStorage.removeItem(STORAGE_KEY);
    }
  },

  start(token) {
    const claims = jwtClaims(token);
    this.token = token;
    this.subject = claims?.sub || '';
    this.expiresAt = claims?.exp ? claims.exp * 1000 : 0;
    this.endedBecause = '';
    sessionStorage.setItem(
      STORAGE_KEY,
      JSON.stringify({ token, subject: this.subject, expiresAt: this.expiresAt }),
    );
    showSession();
  },

  end(reason = '') {
    this.token = null;
    this.subject = '';
    this.expiresAt = 0;
    this.endedBecause = reason;
    sessionStorage.removeItem(STORAGE_KEY);
    showSession();
    route();
  },

  expired(error) {
    this.end(`You were signed out: ${error.message}`);
  },
};

/** The claims of a JWT (unverified: only to show who is signed in and until when). */
function jwtClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const text = fromBase64(part + '='.repeat((4 - (part.length % 4)) % 4)).text;
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Shows or hides the navigation and "signed in as" for the session. */
function showSession() {
  const signedIn = Boolean(session.token);
  for (const el of document.querySelectorAll('[data-signed-in]')) el.hidden = !signedIn;
  const who = document.getElementById('session-who');
  who.textContent = '';
  if (signedIn) {
    who.append('Signed in as ', h('strong', {}, session.subject || 'token'));
    if (session.expiresAt) {
      const until = new Date(session.expiresAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      who.append(h('span', { class: 'session-until' }, ` until ${until}`));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** The states a listed user can have, in the order the console shows them. */
const STATES = [
  { value: 'USER_STATE_ACTIVE', label: 'Active', tone: 'active' },
  { value: 'USER_STATE_INACTIVE', label: 'Inactive', tone: 'inactive' },
  { value: 'USER_STATE_LOCKED', label: 'Locked', tone: 'locked' },
  { value: 'USER_STATE_INITIAL', label: 'Initial', tone: 'initial' },
];

function stateInfo(value) {
  return STATES.find((s) => s.value === value)
    || (value === 'USER_STATE_DELETED' ? { label: 'Deleted', tone: 'deleted' } : { label: 'Unknown', tone: 'unknown' });
}

/** A state badge: a coloured pill whose text says the state (the colour only repeats it). */
function badge(state, el = h('span')) {
  const info = stateInfo(state);
  el.className = `badge badge-${info.tone}`;
  el.textContent = info.label;
  el.dataset.state = state || '';
  return el;
}

/** Orders the list can take: ZITADEL's sorting column and direction. */
const SORTS = [
  { value: 'newest', label: 'Newest first', column: 'USER_FIELD_NAME_CREATION_DATE', asc: false },
  { value: 'oldest', label: 'Oldest first', column: 'USER_FIELD_NAME_CREATION_DATE', asc: true },
  { value: 'username', label: 'Username A–Z', column: 'USER_FIELD_NAME_USER_NAME', asc: true },
  { value: 'email', label: 'Email A–Z', column: 'USER_FIELD_NAME_EMAIL', asc: true },
  { value: 'family', label: 'Family name A–Z', column: 'USER_FIELD_NAME_LAST_NAME', asc: true },
];

const PAGE_SIZES = [10, 20, 50, 100];

/** What a v2 user (plus, for a v3alpha schema user, its v3alpha record) is called and reached at. */
function describe(user, schemaUser) {
  const human = user.human;
  const machine = user.machine;
  let name = '';
  let kind = 'Schema user';
  if (human) {
    const p = human.profile || {};
    name = p.displayName || [p.givenName, p.familyName].filter(Boolean).join(' ');
    kind = 'Human';
  } else if (machine) {
    name = machine.name || '';
    kind = 'Machine';
  } else if (schemaUser) {
    const data = schemaUser.data || {};
    name = typeof data.name === 'string' ? data.name : '';
  }
  const email = human?.email?.email || schemaUser?.contact?.email?.address || '';
  const phone = human?.phone?.phone || schemaUser?.contact?.phone?.number || '';
  return {
    id: user.userId,
    username: user.username || '',
    name,
    kind,
    email,
    phone,
    org: user.details?.resourceOwner || '',
    title: user.username || name || user.userId,
  };
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

function timeElement(iso) {
  if (!iso) return h('span', {}, '—');
  const date = new Date(iso);
  return h('time', { datetime: iso }, Number.isNaN(date.getTime()) ? iso : dateFormat.format(date));
}

/** What an event type means, in words (ZITADEL's key is `EventTypes.<type>`). */
const EVENT_LABELS = {
  'user.human.added': 'Created (human)',
  'user.machine.added': 'Created (machine)',
  'user.schemauser.created': 'Created (schema user)',
  'user.deactivated': 'Deactivated',
  'user.reactivated': 'Reactivated',
  'user.locked': 'Locked',
  'user.unlocked': 'Unlocked',
  'user.removed': 'Deleted',
  'user.metadata.set': 'Metadata set',
  'user.metadata.removed': 'Metadata removed',
  'user.username.changed': 'Username changed',
  'user.human.profile.changed': 'Profile changed',
  'user.human.email.changed': 'Email changed',
  'user.human.email.code.added': 'Email code created',
  'user.human.email.verified': 'Email verified',
  'user.human.phone.changed': 'Phone changed',
  'user.human.phone.code.added': 'Phone code created',
  'user.human.phone.removed': 'Phone removed',
  'user.human.phone.verified': 'Phone verified',
  'user.human.password.changed': 'Password set',
  'user.human.password.code.added': 'Password reset code created',
  'user.machine.changed': 'Machine changed',
  'user.pat.added': 'Personal access token added',
  'user.pat.removed': 'Personal access token removed',
  'user.machine.key.added': 'Key added',
  'user.machine.key.removed': 'Key removed',
  'user.machine.secret.set': 'Secret set',
  'user.machine.secret.removed': 'Secret removed',
  'user.human.mfa.init.skipped': 'Second factor setup skipped',
};

/** A definition list's rows from [term, value] pairs (value: text or node). */
function fillFacts(dl, pairs) {
  dl.replaceChildren();
  for (const [term, value] of pairs) {
    dl.append(h('div', { class: 'fact' }, h('dt', {}, term), h('dd', {}, value === '' || value === undefined ? '—' : value)));
  }
}

function verifiedTag(isVerified) {
  return h('span', { class: isVerified ? 'tag tag-ok' : 'tag' }, isVerified ? 'verified' : 'not verified');
}

// ---------------------------------------------------------------------------------------------
// View: sign-in

const SignInView = {
  title: 'Sign in',
  mount(root) {
    const { fragment, refs } = fromTemplate('tpl-sign-in');
    root.append(fragment);
    if (session.endedBecause) refs.alert.textContent = session.endedBecause;

    // Development sign-in is offered only when the server says so for this browser.
    fetch('/ui/sign-in', { cache: 'no-store', credentials: 'omit' })
      .then((r) => (r.ok ? r.json() : {}))
      .then((offer) => { refs.dev.hidden = !offer.devSignIn; })
      .catch(() => {});

    refs.devButton.addEventListener('click', () => busy(refs.devButton, async () => {
      showError(refs.alert, null);
      try {
        const answer = await api('POST', '/ui/sign-in', {}, { token: null });
        session.start(answer.token);
        announce(`Signed in as ${answer.subject} for ${Math.round(answer.expiresIn / 60)} minutes.`);
        route();
      } catch (e) {
        showError(refs.alert, e);
      }
    }));

    refs.form.addEventListener('submit', (event) => {
      event.preventDefault();
      const button = refs.form.querySelector('button[type=submit]');
      const token = field(refs.form, 'token').value.trim().replace(/^bearer\s+/i, '');
      busy(button, async () => {
        showError(refs.alert, null);
        try {
          // A listing of one user checks that the token is accepted before it is kept.
          await api('POST', '/v2/users', { query: { limit: 1 } }, { token });
          session.start(token);
          announce('Signed in.');
          route();
        } catch (e) {
          showError(refs.alert, e);
          field(refs.form, 'token').focus();
        }
      });
    });
    return {};
  },
};

// ---------------------------------------------------------------------------------------------
// View: users (search, filters, counts per state, table, pages)

/** The listing's settings from the route's query string, with defaults. */
function listSettings(params) {
  const size = Number(params.get('size'));
  const page = Number(params.get('page'));
  const sort = params.get('sort');
  return {
    q: (params.get('q') || '').trim(),
    state: STATES.some((s) => s.value === params.get('state')) ? params.get('state') : '',
    org: (params.get('org') || '').trim(),
    sort: SORTS.some((s) => s.value === sort) ? sort : 'newest',
    size: PAGE_SIZES.includes(size) ? size : 20,
    page: Number.isInteger(page) && page > 0 ? page : 1,
  };
}

/** The hash of a listing with these settings (defaults left out). */
function listHash(s) {
  const params = new URLSearchParams();
  if (s.q) params.set('q', s.q);
  if (s.state) params.set('state', s.state);
  if (s.org) params.set('org', s.org);
  if (s.sort !== 'newest') params.set('sort', s.sort);
  if (s.size !== 20) params.set('size', String(s.size));
  if (s.page > 1) params.set('page', String(s.page));
  const query = params.toString();
  return `#/users${query ? `?${query}` : ''}`;
}

/** The list as last shown, where a user's page leads back to. */
let lastListHash = '#/users';

/** ListUsers' search queries for the search box and organization (the state is separate, so
 *  the counts per state can share them). */
function searchQueries({ q, org }) {
  const queries = [];
  if (q) {
    queries.push({
      orQuery: {
        queries: [
          { userNameQuery: { userName: q, method: TEXT_CONTAINS } },
          { emailQuery: { emailAddress: q, method: TEXT_CONTAINS } },
          { inUserIdsQuery: { userIds: [q] } },
        ],
      },
    });
  }
  if (org) queries.push({ organizationIdQuery: { organizationId: org } });
  return queries;
}

/** How many users match `queries`, read from ListUsers' totalResult with a page of one. */
async function countUsers(queries) {
  const answer = await api('POST', '/v2/users', { query: { offset: '0', limit: 1 }, queries });
  return Number(answer.details?.totalResult || 0);
}

const UsersView = {
  title: 'Users',
  mount(root, _match, params) {
    const { fragment, refs } = fromTemplate('tpl-users');
    root.append(fragment);
    const form = refs.form;
    for (const s of STATES) refs.state.append(h('option', { value: s.value }, s.label));
    for (const s of SORTS) refs.sort.append(h('option', { value: s.value }, s.label));
    for (const n of PAGE_SIZES) refs.size.append(h('option', { value: String(n) }, String(n)));

    let settings = listSettings(params);
    let generation = 0; // answers of an older load are dropped
    let countsKey = null; // the search the chips were counted for

    const go = (changes) => {
      location.hash = listHash({ ...settings, ...changes });
    };
    const fromForm = () => ({
      q: field(form, 'q').value.trim(),
      state: field(form, 'state').value,
      org: field(form, 'org').value.trim(),
      sort: field(form, 'sort').value,
      page: 1,
    });

    form.addEventListener('submit', (event) => {
      event.preventDefault();
      go(fromForm());
    });
    // Selects apply at once; text fields on Enter or the Search button.
    refs.state.addEventListener('change', () => go(fromForm()));
    refs.sort.addEventListener('change', () => go(fromForm()));
    refs.size.addEventListener('change', () => go({ size: Number(refs.size.value), page: 1 }));
    refs.clear.addEventListener('click', () => {
      form.reset();
      location.hash = '#/users';
      field(form, 'q').focus();
    });
    refs.prev.addEventListener('click', () => go({ page: Math.max(1, settings.page - 1) }));
    refs.next.addEventListener('click', () => go({ page: settings.page + 1 }));
    // A click anywhere on a row opens the user (the username link is the keyboard's way).
    refs.rows.addEventListener('click', (event) => {
      if (event.target.closest('a, button')) return;
      const row = event.target.closest('tr[data-href]');
      if (row && !window.getSelection()?.toString()) location.hash = row.dataset.href;
    });

    function showSettings() {
      field(form, 'q').value = settings.q;
      field(form, 'state').value = settings.state;
      field(form, 'org').value = settings.org;
      field(form, 'sort').value = settings.sort;
      refs.size.value = String(settings.size);
    }

    async function loadCounts(mine) {
      const key = JSON.stringify([settings.q, settings.org]);
      if (key === countsKey) return;
      const queries = searchQueries(settings);
      const numbers = await Promise.all([
        countUsers(queries),
        ...STATES.map((s) => countUsers([...queries, { stateQuery: { state: s.value } }])),
      ]);
      if (mine !== generation) return;
      countsKey = key;
      refs.counts.replaceChildren();
      const chip = (label, state, n, tone) => {
        const current = settings.state === state;
        return h('li', {},
          h('a', {
            class: `chip chip-${tone}`,
            href: listHash({ ...settings, state, page: 1 }),
            'aria-current': current ? 'true' : null,
            'data-count-state': state || 'all',
          }, h('span', { class: 'chip-label' }, label), ' ', h('span', { class: 'chip-count' }, String(n))));
      };
      refs.counts.append(chip('All', '', numbers[0], 'all'));
      STATES.forEach((s, i) => refs.counts.append(chip(s.label, s.value, numbers[i + 1], s.tone)));
    }

    function refreshChipLinks() {
      for (const a of refs.counts.querySelectorAll('a[data-count-state]')) {
        const state = a.dataset.countState === 'all' ? '' : a.dataset.countState;
        a.href = listHash({ ...settings, state, page: 1 });
        if (settings.state === state) a.setAttribute('aria-current', 'true');
        else a.removeAttribute('aria-current');
      }
    }

    async function load() {
      const mine = ++generation;
      lastListHash = listHash(settings);
      showSettings();
      showError(refs.alert, null);
      refs.region.setAttribute('aria-busy', 'true');
      const sort = SORTS.find((s) => s.value === settings.sort);
      const offset = (settings.page - 1) * settings.size;
      const queries = searchQueries(settings);
      if (settings.state) queries.push({ stateQuery: { state: settings.state } });
      try {
        const [answer] = await Promise.all([
          api('POST', '/v2/users', {
            query: { offset: String(offset), limit: settings.size, asc: sort.asc },
            sortingColumn: sort.column,
            queries,
          }),
          loadCounts(mine).catch((e) => { if (mine === generation) showError(refs.alert, e); }),
        ]);
        const users = answer.result || [];
        // v3alpha (schema) users show nothing but an id in v2: read their own record too.
        const schema = await Promise.all(users.map((u) => (u.human || u.machine
          ? null
          : api('GET', `/v3alpha/users/${encodeURIComponent(u.userId)}`).then((r) => r.user, () => null))));
        if (mine !== generation) return;
        refreshChipLinks();
        showRows(users.map((u, i) => ({ user: u, info: describe(u, schema[i]) })), offset, Number(answer.details?.totalResult || 0));
      } catch (e) {
        if (mine !== generation) return;
        showError(refs.alert, e);
        showRows([], 0, 0);
      } finally {
        if (mine === generation) refs.region.removeAttribute('aria-busy');
      }
    }

    function showRows(rows, offset, total) {
      refs.rows.replaceChildren(...rows.map(({ user, info }) => {
        const href = `#/users/${encodeURIComponent(info.id)}`;
        const username = info.username
          ? h('a', { href }, info.username)
          : h('a', { href, class: 'no-username' }, h('span', { class: 'visually-hidden' }, 'User '), info.id);
        // One element per cell, so the narrow layout's label and value are two grid items.
        const cell = (label, cls, ...content) => h('td', { 'data-label': label, class: cls }, h('span', {}, ...content));
        return h('tr', { 'data-href': href, 'data-user-id': info.id },
          cell('Username', null, username),
          cell('Name', null, info.name || '—', info.kind !== 'Human' ? h('span', { class: 'tag' }, info.kind.toLowerCase()) : null),
          cell('Email', 'wrap', info.email || '—'),
          cell('Organization', null, info.org),
          cell('State', null, badge(user.state)),
          cell('ID', 'mono', info.id));
      }));
      refs.empty.hidden = rows.length > 0;
      const first = rows.length ? offset + 1 : 0;
      const last = offset + rows.length;
      refs.range.textContent = rows.length ? `${first}–${last} of ${total}` : `0 of ${total}`;
      refs.caption.textContent = `Users, ${refs.range.textContent}`;
      // A pager button that gets disabled while focused hands the focus to the other one.
      const focused = document.activeElement;
      refs.prev.disabled = settings.page <= 1;
      refs.next.disabled = last >= total;
      if (focused === refs.next && refs.next.disabled && !refs.prev.disabled) refs.prev.focus();
      if (focused === refs.prev && refs.prev.disabled && !refs.next.disabled) refs.next.focus();
    }

    load();
    return {
      update(newParams) {
        settings = listSettings(newParams);
        load();
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------
// View: one user

const ACTION_DONE = {
  deactivate: 'deactivated',
  reactivate: 'reactivated',
  lock: 'locked',
  unlock: 'unlocked',
};

const UserView = {
  title: 'User',
  mount(root, match) {
    let id = match[1];
    try {
      id = decodeURIComponent(id);
    } catch {
      // Not percent-encoded after all: the id as written.
    }
    const { fragment, refs } = fromTemplate('tpl-user');
    root.append(fragment);
    refs.subtitle.textContent = `ID ${id}`;
    refs.back.href = lastListHash;
    let user = null; // the v2 user as last read
    let info = null; // describe(user)
    let alive = true;

    // --- reading ---

    async function loadUser() {
      const answer = await api('GET', path(id));
      const u = answer.user;
      const schemaUser = u.human || u.machine
        ? null
        : await api('GET', `/v3alpha/users/${encodeURIComponent(id)}`).then((r) => r.user, () => null);
      if (!alive) return;
      user = u;
      info = describe(u, schemaUser);
      refs.title.textContent = info.title;
      document.title = `${info.title} · userd console`;
      badge(u.state, refs.badge);
      const d = u.details || {};
      const p = u.human?.profile || {};
      const facts = [['Kind', info.kind], ['Organization', info.org], ['ID', h('span', { class: 'mono' }, id)]];
      if (u.human) {
        facts.push(['Username', info.username], ['Given name', p.givenName], ['Family name', p.familyName],
          ['Display name', p.displayName || ''], ['Nickname', p.nickName || ''], ['Preferred language', p.preferredLanguage || '']);
        if (u.human.passwordChangeRequired) facts.push(['Password', 'must be changed at next sign-in']);
      } else if (u.machine) {
        facts.push(['Username', info.username], ['Name', u.machine.name], ['Description', u.machine.description || '']);
      } else if (schemaUser) {
        facts.push(['Schema', schemaUser.schemaId || ''], ['Data', h('pre', { class: 'data' }, JSON.stringify(schemaUser.data ?? {}, null, 2))]);
      }
      facts.push(['Created', timeElement(d.creationDate)], ['Changed', timeElement(d.changeDate)], ['Sequence', d.sequence || '']);
      fillFacts(refs.profile, facts);

      const email = u.human?.email || (schemaUser?.contact?.email && { email: schemaUser.contact.email.address, isVerified: schemaUser.contact.email.isVerified });
      const phone = u.human?.phone || (schemaUser?.contact?.phone && { phone: schemaUser.contact.phone.number, isVerified: schemaUser.contact.phone.isVerified });
      refs.contactPanel.hidden = Boolean(u.machine);
      fillFacts(refs.contact, [
        ['Email', email?.email ? h('span', {}, h('span', { class: 'wrap' }, email.email), ' ', verifiedTag(email.isVerified)) : ''],
        ['Phone', phone?.phone ? h('span', {}, phone.phone, ' ', verifiedTag(phone.isVerified)) : ''],
      ]);
      refs.humanEdits.hidden = !u.human;
      refs.machineEdits.hidden = !u.machine;
      refs.editPanel.hidden = !u.human && !u.machine;
      prefillForms();
      refs.body.hidden = false;
    }

    async function loadMetadata() {
      try {
        const answer = await api('POST', `${path(id)}/metadata/search`, { query: { limit: 100 } });
        if (!alive) return;
        showError(refs.metadataAlert, null);
        const entries = answer.metadata || [];
        refs.metadata.replaceChildren(...entries.map((m) => {
          const value = fromBase64(m.value);
          return h('tr', {},
            h('th', { scope: 'row', class: 'mono wrap' }, m.key),
            h('td', { class: 'wrap' }, value.text !== undefined ? value.text : h('span', {}, h('span', { class: 'tag' }, 'binary, base64'), ' ', h('span', { class: 'mono' }, value.binary))),
            h('td', { class: 'end' }, h('button', {
              type: 'button',
              class: 'small',
              'aria-label': `Remove metadata ${m.key}`,
              onclick: (event) => removeMetadata(event.currentTarget, m.key),
            }, 'Remove')));
        }));
        const total = Number(answer.pagination?.totalResult || entries.length);
        refs.metadataMore.hidden = total <= entries.length;
        refs.metadataMore.textContent = `Showing ${entries.length} of ${total} keys.`;
        refs.metadataEmpty.hidden = entries.length > 0;
        refs.metadataRegion.hidden = entries.length === 0;
      } catch (e) {
        if (alive) showError(refs.metadataAlert, e);
      }
    }

    async function loadHistory() {
      try {
        const answer = await api('POST', `/management/v1/users/${encodeURIComponent(id)}/changes/_search`, { query: { limit: 100, asc: false } });
        if (!alive) return;
        showError(refs.historyAlert, null);
        const changes = answer.result || [];
        refs.timeline.replaceChildren(...changes.map((c) => {
          const type = (c.eventType?.key || '').replace(/^EventTypes\./, '');
          return h('li', { class: `event event-${type.split('.').pop()}`, 'data-event-type': type, 'data-sequence': c.sequence },
            h('p', { class: 'event-title' }, EVENT_LABELS[type] || type),
            h('p', { class: 'event-meta' },
              timeElement(c.changeDate),
              h('span', {}, ` · #${c.sequence}`),
              c.editorId ? h('span', {}, ' · by ', h('span', { class: 'mono' }, c.editorId)) : null),
            h('p', { class: 'event-type mono' }, type));
        }));
        refs.historyMore.hidden = changes.length < 100;
      } catch (e) {
        if (alive) showError(refs.historyAlert, e);
      }
    }

    /** Reads the user, its metadata and its history again (after every change). */
    async function refresh() {
      await Promise.all([loadUser(), loadMetadata(), loadHistory()]);
    }

    // --- state actions ---

    for (const button of refs.actions.querySelectorAll('button[data-action]')) {
      button.addEventListener('click', () => busy(button, async () => {
        const action = button.dataset.action;
        showError(refs.actionsAlert, null);
        try {
          await api('POST', `${path(id)}/${action}`, {});
          announce(`${info?.title || id} ${ACTION_DONE[action]}.`);
        } catch (e) {
          showError(refs.actionsAlert, e);
        }
        await refresh().catch((e) => showError(refs.actionsAlert, e));
      }));
    }

    // --- delete, after the dialog confirms ---

    const dialog = document.getElementById('confirm-delete');
    const dialogRefs = {};
    for (const el of dialog.querySelectorAll('[data-ref]')) dialogRefs[el.dataset.ref] = el;
    const onCancel = () => dialog.close();
    const onConfirm = () => busy(dialogRefs.confirm, async () => {
      showError(dialogRefs.alert, null);
      try {
        await api('DELETE', path(id));
        dialog.close();
        announce(`${info?.title || id} deleted.`);
        location.hash = lastListHash;
      } catch (e) {
        showError(dialogRefs.alert, e);
      }
    });
    const onClose = () => { if (alive) refs.delete.focus(); };
    dialogRefs.cancel.addEventListener('click', onCancel);
    dialogRefs.confirm.addEventListener('click', onConfirm);
    dialog.addEventListener('close', onClose);
    refs.delete.addEventListener('click', () => {
      showError(dialogRefs.alert, null);
      dialogRefs.who.textContent = info ? `${info.title} (id ${id})` : `User ${id}`;
      dialog.showModal();
      dialogRefs.cancel.focus();
    });

    // --- edits ---

    /** Runs a change from a form: its errors go to the edit panel's alert; success announces
     *  `done` and refreshes the page's data. */
    function change(form, alert, done, work) {
      const button = form.querySelector('button[type=submit]');
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        busy(button, async () => {
          showError(alert, null);
          try {
            const answer = await work(new FormData(form));
            announce(typeof done === 'function' ? done(answer) : done);
            await refresh();
          } catch (e) {
            showError(alert, e);
          }
        });
      });
    }

    const forms = {};
    for (const f of root.querySelectorAll('form[data-form]')) forms[f.dataset.form] = f;

    // Each closed form holds the user's current values, so it opens ready to edit; an open one
    // is left alone (it may hold what is being typed).
    function prefillForms() {
      const p = user.human?.profile || {};
      const values = {
        profile: {
          username: user.username, givenName: p.givenName, familyName: p.familyName,
          displayName: p.displayName, nickName: p.nickName, preferredLanguage: p.preferredLanguage,
        },
        email: { email: user.human?.email?.email },
        phone: { phone: user.human?.phone?.phone },
        machine: { username: user.username, name: user.machine?.name, description: user.machine?.description },
      };
      for (const details of root.querySelectorAll('details[data-edit]')) {
        const fill = values[details.dataset.edit];
        if (details.open || !fill) continue;
        for (const [name, value] of Object.entries(fill)) field(forms[details.dataset.edit], name).value = value || '';
      }
    }

    const optional = (v) => (v ? String(v) : undefined);
    change(forms.profile, refs.editAlert, 'Profile saved.', (data) => {
      const profile = {
        givenName: data.get('givenName'),
        familyName: data.get('familyName'),
        displayName: optional(data.get('displayName')),
        nickName: optional(data.get('nickName')),
        preferredLanguage: optional(data.get('preferredLanguage')),
      };
      const body = { profile };
      if (data.get('username') !== user.username) body.username = data.get('username');
      return api('PUT', `/v2/users/human/${encodeURIComponent(id)}`, body);
    });
    change(forms.email, refs.editAlert,
      (answer) => (answer.verificationCode ? `Email changed. Verification code: ${answer.verificationCode}` : 'Email changed.'),
      (data) => api('POST', `${path(id)}/email`, data.get('verified')
        ? { email: data.get('email'), isVerified: true }
        : { email: data.get('email'), returnCode: {} }));
    change(forms.phone, refs.editAlert,
      (answer) => (answer.verificationCode ? `Phone changed. Verification code: ${answer.verificationCode}` : 'Phone changed.'),
      (data) => api('POST', `${path(id)}/phone`, data.get('verified')
        ? { phone: data.get('phone'), isVerified: true }
        : { phone: data.get('phone'), returnCode: {} }));
    change(forms.password, refs.editAlert, 'Password set.', async (data) => {
      const answer = await api('POST', `${path(id)}/password`, {
        newPassword: { password: data.get('password'), changeRequired: data.get('changeRequired') === 'on' },
      });
      forms.password.reset();
      return answer;
    });
    change(forms.machine, refs.editAlert, 'Saved.', (data) => {
      const body = { machine: { name: data.get('name'), description: data.get('description') } };
      if (data.get('username') !== user.username) body.username = data.get('username');
      return api('PATCH', path(id), body);
    });
    refs.removePhone.addEventListener('click', () => busy(refs.removePhone, async () => {
      showError(refs.editAlert, null);
      try {
        await api('DELETE', `${path(id)}/phone`);
        announce('Phone removed.');
        await refresh();
      } catch (e) {
        showError(refs.editAlert, e);
      }
    }));

    change(refs.metadataForm, refs.metadataAlert, (answer) => answer.done, async (data) => {
      const key = data.get('key');
      await api('POST', `${path(id)}/metadata`, { metadata: [{ key, value: toBase64(data.get('value')) }] });
      refs.metadataForm.reset();
      field(refs.metadataForm, 'key').focus();
      return { done: `Metadata ${key} set.` };
    });

    async function removeMetadata(button, key) {
      await busy(button, async () => {
        showError(refs.metadataAlert, null);
        try {
          await api('DELETE', `${path(id)}/metadata?keys=${encodeURIComponent(key)}`);
          announce(`Metadata ${key} removed.`);
          await refresh();
          field(refs.metadataForm, 'key').focus();
        } catch (e) {
          showError(refs.metadataAlert, e);
        }
      });
    }

    // --- first load ---

    loadUser().then(() => Promise.all([loadMetadata(), loadHistory()]), (e) => {
      if (!alive) return;
      refs.title.textContent = e.status === 404 ? 'User not found' : 'User';
      badge('', refs.badge);
      refs.badge.textContent = '—';
      showError(refs.loadAlert, e);
    });

    return {
      unmount() {
        alive = false;
        if (dialog.open) dialog.close();
        dialogRefs.cancel.removeEventListener('click', onCancel);
        dialogRefs.confirm.removeEventListener('click', onConfirm);
        dialog.removeEventListener('close', onClose);
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------
// View: new user

const NewUserView = {
  title: 'New user',
  mount(root, _match, params) {
    const { fragment, refs } = fromTemplate('tpl-new');
    root.append(fragment);
    const form = refs.form;
    if (params.get('org')) field(form, 'org').value = params.get('org');

    // Human or machine: the other group is hidden and disabled (so its fields are neither
    // required nor submitted).
    const showKind = () => {
      const machine = field(form, 'kind').value === 'machine';
      refs.machine.hidden = !machine;
      refs.machine.disabled = !machine;
      refs.human.hidden = machine;
      refs.human.disabled = machine;
      refs.usernameHint.textContent = machine
        ? 'A machine without one gets its id.'
        : 'A human without one gets the email address.';
    };
    for (const radio of form.querySelectorAll('input[name=kind]')) radio.addEventListener('change', showKind);
    showKind();

    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const button = form.querySelector('button[type=submit]');
      const data = new FormData(form);
      const username = data.get('username').trim() || undefined;
      busy(button, async () => {
        showError(refs.alert, null);
        try {
          let userId;
          if (data.get('kind') === 'machine') {
            const answer = await api('POST', '/v2/users/new', {
              organizationId: data.get('org').trim(),
              username,
              machine: { name: data.get('machineName'), description: data.get('machineDescription') || undefined },
            });
            userId = answer.id;
          } else {
            const body = {
              organization: { orgId: data.get('org').trim() },
              username,
              profile: { givenName: data.get('givenName'), familyName: data.get('familyName') },
              email: { email: data.get('email').trim(), isVerified: data.get('emailVerified') === 'on' },
            };
            if (data.get('phone').trim()) body.phone = { phone: data.get('phone').trim() };
            if (data.get('password')) {
              body.password = { password: data.get('password'), changeRequired: data.get('changeRequired') === 'on' };
            }
            const answer = await api('POST', '/v2/users/human', body);
            userId = answer.userId;
          }
          announce(`User ${username || userId} created.`);
          location.hash = `#/users/${encodeURIComponent(userId)}`;
        } catch (e) {
          showError(refs.alert, e);
        }
      });
    });
    return {};
  },
};

const NotFoundView = {
  title: 'Not found',
  mount(root) {
    root.append(fromTemplate('tpl-not-found').fragment);
    return {};
  },
};

// ---------------------------------------------------------------------------------------------
// Router: location.hash → view. A change of the query alone (the users' filters) updates the
// mounted view in place, so the search box keeps its focus; any other change mounts a view
// and moves the focus to its heading.

const ROUTES = [
  { name: 'users', pattern: /^\/users\/?$/, view: UsersView },
  { name: 'user', pattern: /^\/users\/([^/]+)$/, view: UserView },
  { name: 'new', pattern: /^\/new\/?$/, view: NewUserView },
];

let mounted = null; // { key, view, instance }

function route() {
  const main = document.getElementById('main');
  const raw = location.hash.replace(/^#/, '');
  if (!raw.startsWith('/')) {
    // Not a route (e.g. an old bookmark): the users.
    history.replaceState(null, '', '#/users');
    return route();
  }
  const [pathname, query = ''] = raw.split('?');
  const params = new URLSearchParams(query);
  let view = NotFoundView;
  let match = null;
  let name = 'none';
  if (!session.token) {
    view = SignInView;
    name = 'sign-in';
  } else {
    for (const r of ROUTES) {
      match = pathname.match(r.pattern);
      if (match) {
        view = r.view;
        name = r.name;
        break;
      }
    }
  }
  const key = `${name}:${name === 'user' ? pathname : ''}`;
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (mounted && mounted.key === key && mounted.instance.update) {
    mounted.instance.update(params);
    return undefined;
  }
  const first = mounted === null;
  if (!first) clearStaleStatus();
  mounted?.instance.unmount?.();
  main.replaceChildren();
  document.title = `${view.title} · userd console`;
  mounted = { key, view, instance: view.mount(main, match, params) || {} };
  if (!first) main.querySelector('h1')?.focus();
  return undefined;
}

function start() {
  session.load();
  showSession();
  document.getElementById('sign-out').addEventListener('click', () => {
    session.end();
    announce('Signed out.');
  });
  // The skip link moves the focus without touching the route.
  document.querySelector('[data-skip]').addEventListener('click', (event) => {
    event.preventDefault();
    document.getElementById('main').focus();
  });
  window.addEventListener('hashchange', route);
  if (!location.hash) history.replaceState(null, '', '#/users');
  route();
}

start();
