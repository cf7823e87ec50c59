#!/usr/bin/env bash
# The public contract's guard (CTest Proto.LintAndBreaking, and by hand before a commit):
#   1. `buf lint` on proto/ with the STANDARD rules and the exceptions proto/buf.yaml explains;
#   2. `buf breaking` of the working tree's proto/ against the previous commit (HEAD~1), with the
#      FILE rules: a removed or renumbered field, a renamed RPC or message, a changed type fails.
# When there is no previous commit (first commit, shallow clone, not a git checkout) step 2 is
# skipped with a message instead of failing: there is nothing to compare with.
set -euo pipefail
tools="$(cd "$(dirname "$0")" && pwd)"
proto="$(dirname "$tools")"
"$tools/../../.ci/ensure-node-modules.sh" "$tools"
buf="$tools/node_modules/.bin/buf"

cd "$proto"
"$buf" lint
echo "buf lint: ok"

repo="$(git -C "$proto" rev-parse --show-toplevel 2>/dev/null || true)"
previous="$(git -C "$proto" rev-parse -q --verify 'HEAD~1^{commit}' 2>/dev/null || true)"
if [ -z "$repo" ] || [ -z "$previous" ]; then
  echo "buf breaking: skipped, no previous commit to compare with (first commit or shallow clone)"
  exit 0
fi
# The commit by hash, not "HEAD~1": buf clones the repository, and in a git worktree the clone's
# HEAD would be the main checkout's, not this one's.
"$buf" breaking . --against "$repo/.git#ref=$previous" --against-config "$tools/buf.against.yaml"
echo "buf breaking: ok against $previous"
