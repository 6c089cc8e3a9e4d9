"""Quarry trainer: data, models, local training, privacy, encoding and Paillier encryption.

Pure numpy + phe (+ gmpy2, dp-accounting; pyarrow, openpyxl and python-calamine to read the
owner's tables): imports neither Qt nor web3, so it can be reused headless. Every error meant
for a person is a trainer.errors.TrainerError.

    spec       BountySpec.from_json_bytes / to_json_bytes / spec_hash / public_key()
    tables     Table, Batch (the interface); table_readers.open_table(path) -> Table
               (CSV/TSV, .xlsx, .ods, Parquet, JSON Lines, JSON, .npz: text_tables, binary_tables)
    mapping    propose_mapping(file columns, spec, chosen=...) -> Proposal; LabelResolver
    data       load_dataset(paths, spec, LoadOptions(...)) -> Dataset(X, y, reports); .summary()
    models     model_from_spec, model_to_bytes, model_from_bytes (npz, allow_pickle=False)
    train      train_local(model, X, y, spec.training, progress, should_stop, time_budget_s)
    privacy    clip_update, add_gaussian_noise, dp_sgd_event, user_level_event, epsilon_of,
               describe_epsilon(eps, delta, mechanism)
    dp_sgd     DpSgdConfig, dp_sgd_for(spec.training, n_rows), train_dp_sgd ("Protect each row")
    update     make_update(spec, global_params, X, y, ...) -> LocalUpdate
               encrypt_to_blob(spec, bounty_id, round, update, ...) -> bytes
    encoding   EncodingParams, encode, pack, unpack_sums, decode_average
    paillier   encrypt_update, decrypt_blocks, add_ciphertexts, prepare_key
    blob       encode_blob, parse_blob, blob_hash
    aggregate  aggregate, aggregate_subset, decrypt_update, sum_encrypted
    testing    make_spec, make_spec_dict, test_keypair (tests and demos only)
"""
