// The wsbridge demo page: one socket (clients/js) feeding a prices table (JSON broadcast to topic
// "prices"), a notifications list (everything else pushed to this session or its user), a box
// whose text goes to the backend (an Events `message`), and a connection-state badge.
//
// Page URL parameters: ?token=JWT signs in (else the session is anonymous and joins the public
// topic "prices"); ?ws_path=/ws if the bridge runs with another --ws_path.
//
// Everything that touches the client library is in connect() below, so adapting to its API is
// one place.
import { WsBridgeClient } from './wsbridge.js';

const params = new URLSearchParams(location.search);
const token = params.get('token') || '';
const wsPath = params.get('ws_path') || '/ws';
const MAX_ITEMS = 100;  // notifications and sent messages kept in the DOM

const $ = (id) => document.getElementById(id);
const stateBadge = $('state');
const pricesBody = $('prices-body');
const notifications = $('notifications');
const sent = $('sent');
const input = $('message-input');
const sendButton = $('send');

// --- Connection ----------------------------------------------------------------------------

function socketUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // Topics in the URL are joined at connect: public ones by anyone, others only if the token
  // grants them.
  return `${scheme}//${location.host}${wsPath}?topics=prices`;
}

function connect() {
  const options = {
    onopen: () => setState('open'),
    onmessage: (event) => receive(event.data),
    onclose: (event) => {
      if (event && event.code !== undefined) {
        addItem(notifications, `connection closed (${event.code}${event.reason ? `: ${event.reason}` : ''})`,
                'system');
      }
    },
    onerror: () => setState('error'),
    onstatechange: (state) => setState(state),
  };
  if (token) options.token = token;
  return new WsBridgeClient(socketUrl(), options);
}

// --- Rendering -----------------------------------------------------------------------------

function setState(state) {
  stateBadge.textContent = state;
  stateBadge.dataset.state = state;
  sendButton.disabled = state === 'closed';
}

const lastPrice = new Map();  // symbol -> number, for the up/down colour

function receive(data) {
  if (typeof data !== 'string') return showBinary(data);
  let message = null;
  try {
    message = JSON.parse(data);
  } catch {
    // Not JSON: a plain text notification.
  }
  if (message && typeof message === 'object' && typeof message.symbol === 'string' &&
      message.price !== undefined) {
    return showPrice(message);
  }
  addItem(notifications, data, 'text');
}

function showPrice({ symbol, price, time }) {
  let row = pricesBody.querySelector(`tr[data-symbol="${CSS.escape(symbol)}"]`);
  if (!row) {
    row = document.createElement('tr');
    row.dataset.symbol = symbol;
    for (const name of ['symbol', 'price', 'time']) {
      const cell = document.createElement('td');
      cell.className = name;
      row.append(cell);
    }
    row.cells[0].textContent = symbol;
    // Rows stay sorted by symbol, so the table does not jump around.
    const next = [...pricesBody.rows].find((r) => r.dataset.symbol > symbol);
    pricesBody.insertBefore(row, next ?? null);
  }
  const value = Number(price);
  const previous = lastPrice.get(symbol);
  row.classList.toggle('up', previous !== undefined && value > previous);
  row.classList.toggle('down', previous !== undefined && value < previous);
  lastPrice.set(symbol, value);
  row.cells[1].textContent = Number.isFinite(value) ? value.toFixed(2) : String(price);
  row.cells[2].textContent = time ? new Date(time).toLocaleTimeString() : new Date().toLocaleTimeString();
  $('prices-empty').hidden = true;
}

function showBinary(data) {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data)
    : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : null;
  if (!bytes) return addItem(notifications, String(data), 'text');
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  const item = addItem(notifications, `binary, ${bytes.length} bytes: ${hex}`, 'binary');
  item.dataset.hex = hex.replaceAll(' ', '');
}

function addItem(list, text, kind) {
  const item = document.createElement('li');
  item.dataset.kind = kind;
  const stamp = document.createElement('time');
  stamp.textContent = new Date().toLocaleTimeString();
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  item.append(stamp, body);
  list.prepend(item);
  while (list.children.length > MAX_ITEMS) list.lastElementChild.remove();
  if (list === notifications) $('notifications-empty').hidden = true;
  return item;
}

// --- Start ---------------------------------------------------------------------------------

$('user').textContent = token ? userOf(token) : 'anonymous';
setState('connecting');
const client = connect();

$('send-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = input.value;
  if (!text) return;
  client.send(text);
  addItem(sent, text, 'text');
  input.value = '';
  input.focus();
});

// The token's subject, for display only (the bridge checks the signature; the page does not).
function userOf(jwt) {
  try {
    const payload = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload)).sub || 'anonymous';
  } catch {
    return 'a token user';
  }
}

// For the browser tests and the console.
window.wsbridgeDemo = { client };
