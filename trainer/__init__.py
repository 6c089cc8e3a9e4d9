"""Quarry trainer: data, models, local training, privacy, encoding and Paillier encryption.

Pure numpy + phe: imports neither Qt nor web3, so it can be reused headless.
"""
