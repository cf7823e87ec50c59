// A promise-returning client of wsbridge.v1.Bridge for the real-bridge tests: @grpc/grpc-js
// loading proto/wsbridge/v1/bridge.proto at run time (no generated code), plaintext on loopback.
import { fileURLToPath } from 'node:url';
import path from 'node:path';

import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const here = path.dirname(fileURLToPath(import.meta.url));
const protoRoot = path.resolve(here, '../../../proto');

/**
 * @param {number} grpcPort the bridge's gRPC port on 127.0.0.1
 * @returns {{push: Function, disconnect: Function, listSessions: Function, close: Function}}
 */
export function bridgeApi(grpcPort) {
  const definition = protoLoader.loadSync('wsbridge/v1/bridge.proto', {
    includeDirs: [protoRoot],
    longs: Number,
    defaults: true,
    oneofs: true,
  });
  const { Bridge } = grpc.loadPackageDefinition(definition).wsbridge.v1;
  const stub = new Bridge(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
  const call = (method) => (request) =>
    new Promise((resolve, reject) => stub[method](request, (err, response) => (err ? reject(err) : resolve(response))));
  return {
    push: call('Push'),
    disconnect: call('Disconnect'),
    listSessions: call('ListSessions'),
    close: () => stub.close(),
  };
}
