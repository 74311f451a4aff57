"""Containers: places that hold records.  ``zarr_group`` is the product's
store format; ``hdf5_file`` writes and reads spikelab's HDF5 layout."""
