"""The embedded Ethereum network: a persistent py-evm chain served as JSON-RPC on 127.0.0.1.

    config       port, chain id, faucet amounts and limits (light: no py-evm)
    errors       DevnetError, DevnetUnreachable
    server_info  <home>/devnet and server.json (who serves this home, where)
    launcher     find, start detached, stop or run in the foreground a home's devnet
    node         Devnet: the chain, its keys and contracts, the RPC server, plugins
    faucet       test ETH and QDT for new accounts, rate-limited
    chain        py-evm over SQLite, mined in wall-clock time
    storage      py-evm's key-value database on SQLite
    rpc          the JSON-RPC methods and the HTTP server

It imports nothing from wallet/, ui/ or practitioner/ (tests/test_layering.py checks); the
wallet reaches it only through `wallet/devnet_client.py`. Plugins (entry point group
"quarry.devnet", e.g. the demo practitioner) get a `node.DevnetContext` once it serves.
"""
