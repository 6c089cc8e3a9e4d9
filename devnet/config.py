"""The embedded network's fixed numbers: port, chain id, faucet amounts and limits, timings.

Light on purpose (no py-evm, no web3): the wallet reads these without loading the node.
"""

DEFAULT_PORT = 18545
CHAIN_ID = 1337
PLUGIN_GROUP = "quarry.devnet"  # entry points called with a DevnetContext once it serves
GRACE_PERIOD_SECONDS = 3600
ETHER = 10**18
TOKEN_UNIT = 10**18
FAUCET_ETH = 10 * ETHER
FAUCET_TOKENS = 1_000 * TOKEN_UNIT
FAUCET_INTERVAL_SECONDS = 3600  # one faucet payment per address per hour
# Fresh addresses cost nothing, so the per-address limit alone does not stop a loop from
# draining the deployer (and filling the disk with blocks): at most this many payments per
# interval in all. A person funds a handful of accounts; the demo needs none.
FAUCET_PAYMENTS_PER_INTERVAL = 100
FAUCET_RESERVE_ETH = 1_000 * ETHER  # the deployer keeps this for minting and deploying
PRACTITIONER_TOKENS = 1_000_000 * TOKEN_UNIT
IDLE_BLOCK_SECONDS = 5  # an empty block this often while clients are active keeps "latest" fresh
ACTIVE_CLIENT_SECONDS = 60
START_TIMEOUT_SECONDS = 60
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # of a JSON-RPC answer read by launcher.rpc_request
