"""What the Dagster UI shows for pg_cron assets, from the webserver's GraphQL API (docs/dagster.md).

python examples/dagster/ui_query.py pg_cron/demo/heartbeat pg_cron/demo/broken

(with ``dagster dev ... -h 127.0.0.1 -p 3097`` running)
"""

from __future__ import annotations

import json
import sys
import urllib.request

URL = "http://127.0.0.1:3097/graphql"
Q = """
query($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) {
    assetKey { path } groupName kinds isMaterializable isExecutable description
    owners { ... on TeamAssetOwner { team } ... on UserAssetOwner { email } }
    tags { key value }
    metadataEntries { label ... on TextMetadataEntry { text } ... on MarkdownMetadataEntry { mdStr } }
    assetMaterializations(limit: 2) {
      runId timestamp
      metadataEntries {
        label ... on IntMetadataEntry { intValue } ... on TextMetadataEntry { text }
        ... on FloatMetadataEntry { floatValue }
      }
    }
    assetObservations(limit: 2) {
      runId description metadataEntries { label ... on TextMetadataEntry { text } }
    }
    assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } }
  }
}
"""
keys = [{"path": p.split("/")} for p in sys.argv[1:]]
req = urllib.request.Request(
    URL,
    data=json.dumps({"query": Q, "variables": {"keys": keys}}).encode(),
    headers={"Content-Type": "application/json"},
)
print(json.dumps(json.load(urllib.request.urlopen(req, timeout=30)), indent=1))
