"""The practitioner's side of the market: post bounties, collect, decrypt, evaluate, pay."""
