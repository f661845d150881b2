"""Device meshes, logical-axis sharding rules and multi-host start-up.

Layers name *logical* axes ("embed", "mlp", "act_batch", ...); `rules` maps them to the mesh
axes `data`, `fsdp` and `tensor`; nothing else in the code base names a mesh axis.
"""
