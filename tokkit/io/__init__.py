"""Files: checkpoint directories, HDF5 stores, provenance."""
