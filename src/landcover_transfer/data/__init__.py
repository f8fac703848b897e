"""The study's images: the HDF5 dataset file, the EuroSAT release, synthetic demo data, the splits."""
