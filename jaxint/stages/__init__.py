"""The pipeline's stages, each reading and writing the run directory (see `jaxint.rundir`)."""
