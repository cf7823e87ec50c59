// Compiled (never run) by `npm run typecheck`: uses the API as an application would, so a
// declaration that drifts from wsbridge.js's documented shape fails to type-check. The lines
// marked @ts-expect-error must stay errors.
import { WsBridgeClient, ConnectionState, DEFAULTS, isFatalCloseCode } from '../wsbridge.js';
import type { WsBridgeCloseEvent, ConnectionState as State } from '../wsbridge.js';

const client = new WsBridgeClient('wss://example.test/ws', {
  token: async () => 'jwt',
  initialDelayMs: 250,
  maxQueuedBytes: 64 * 1024,
  onstatechange: (state: State, previous: State, info) => {
    const waited: number | undefined = info.delayMs;
    void [state, previous, waited];
  },
});
client.onmessage = (event) => {
  if (typeof event.data === 'string') event.data.toUpperCase();
  else new Uint8Array(event.data).at(0);
};
client.onclose = (event: WsBridgeCloseEvent) => {
  const again: boolean = event.willReconnect;
  void again;
};
const accepted: boolean = client.send('text') && client.send(new Uint8Array(2)) && client.send(new ArrayBuffer(1));
const open: boolean = client.state === ConnectionState.OPEN;
const fatal: boolean = isFatalCloseCode(4001);
const initial: number = DEFAULTS.initialDelayMs;
client.close(4000, 'bye');
void [accepted, open, fatal, initial];

// @ts-expect-error a number is not a message
client.send(42);
// @ts-expect-error tokens are strings or functions
new WsBridgeClient('wss://example.test/ws', { token: 42 });
// @ts-expect-error the state is read-only
client.state = ConnectionState.OPEN;
