"""Running the anonymizer over inputs: one frame (``anonymizer``), the fail-closed
guard (``guard``), a local batch (``local``) or a Ray cluster (``ray``)."""
