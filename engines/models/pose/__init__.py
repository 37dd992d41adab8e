"""3D human pose: CMU skeleton, rotations, forward kinematics, the pose32 prior, meshes, bench."""
