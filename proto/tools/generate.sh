#!/usr/bin/env bash
# Generates the C++, Python and JS stubs of proto/buf.gen.yaml into OUT_DIR and proves each is
# usable, not merely present (CTest Proto.GenerateStubs):
#   C++     the gRPC stub header and source compile (syntax only) against Debian's headers;
#   Python  wsbridge.v1.bridge_pb2 / bridge_pb2_grpc import, and a PushRequest round-trips
#           (skipped with a message when no python3 has both google.protobuf and grpc);
#   JS      bridge_pb.js loads in node, and a PushRequest round-trips through @bufbuild/protobuf.
# Usage: generate.sh OUT_DIR   (OUT_DIR is emptied first)
set -euo pipefail
out="${1:?usage: generate.sh OUT_DIR}"
tools="$(cd "$(dirname "$0")" && pwd)"
"$tools/../../.ci/ensure-node-modules.sh" "$tools"
export PATH="$tools/node_modules/.bin:$PATH"  # buf and protoc-gen-es

rm -rf "$out"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
(cd "$tools/.." && buf generate --template buf.gen.yaml --output "$out")

for f in cpp/wsbridge/v1/bridge.pb.h cpp/wsbridge/v1/bridge.pb.cc \
         cpp/wsbridge/v1/bridge.grpc.pb.h cpp/wsbridge/v1/bridge.grpc.pb.cc \
         python/wsbridge/v1/bridge_pb2.py python/wsbridge/v1/bridge_pb2_grpc.py \
         js/wsbridge/v1/bridge_pb.js js/wsbridge/v1/bridge_pb.d.ts; do
  [ -s "$out/$f" ] || { echo "missing or empty: $out/$f" >&2; exit 1; }
done

"${CXX:-c++}" -std=c++17 -fsyntax-only -I"$out/cpp" "$out/cpp/wsbridge/v1/bridge.grpc.pb.cc"
echo "C++: bridge.grpc.pb.cc compiles"

python=""
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import google.protobuf, grpc' 2>/dev/null; then
    python="$p"
    break
  fi
done
if [ -n "$python" ]; then
  PYTHONPATH="$out/python" "$python" - <<'PY'
from wsbridge.v1 import bridge_pb2, bridge_pb2_grpc
req = bridge_pb2.PushRequest(session_ids=["s1"], message=bridge_pb2.Message(text="hi"))
back = bridge_pb2.PushRequest.FromString(req.SerializeToString())
assert back.session_ids == ["s1"] and back.message.text == "hi", back
assert hasattr(bridge_pb2_grpc, "BridgeStub"), dir(bridge_pb2_grpc)
print("Python: bridge_pb2 and bridge_pb2_grpc import; PushRequest round-trips")
PY
else
  echo "Python: skipped the import check (no python3 with google.protobuf and grpc;" \
       "Debian python3-protobuf python3-grpcio)"
fi

# Node resolves @bufbuild/protobuf from the nearest node_modules above the file, and treats .js
# as an ES module under a package.json saying so: give the generated tree both.
ln -sfn "$tools/node_modules" "$out/js/node_modules"
echo '{"type": "module"}' > "$out/js/package.json"
(cd "$out/js" && node --input-type=module -e '
import { create, toBinary, fromBinary } from "@bufbuild/protobuf";
import { Bridge, PushRequestSchema } from "./wsbridge/v1/bridge_pb.js";
const req = create(PushRequestSchema, { sessionIds: ["s1"], message: { payload: { case: "text", value: "hi" } } });
const back = fromBinary(PushRequestSchema, toBinary(PushRequestSchema, req));
if (back.sessionIds[0] !== "s1" || back.message.payload.value !== "hi") throw new Error("round trip");
if (Bridge.method.push.name !== "Push" || Bridge.typeName !== "wsbridge.v1.Bridge") throw new Error("service");
console.log("JS: bridge_pb.js loads; PushRequest round-trips; Bridge service descriptor present");
')
